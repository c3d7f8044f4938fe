/** zod pieces shared by the command option schemas: what Discord sends, what the terminal passes. */
import { z } from "zod";

export const nodeName = z
  .string()
  .trim()
  .min(1, "give a node name")
  .max(64)
  .regex(/^[A-Za-z0-9][A-Za-z0-9.-]*$/, "a node name has letters, digits, '.' and '-' only");

export const flag = z.boolean().default(false);
