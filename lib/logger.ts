/**
 * pino JSON logs. Secrets are kept out twice: config values are `Secret` objects that serialise as
 * "[redacted]", and the paths below are censored in case a raw value slips into a log call.
 */
import { type Logger, pino } from "pino";

export type { Logger };

export const REDACT_PATHS = [
  "token",
  "tokenSecret",
  "secret",
  "password",
  "authorization",
  "*.token",
  "*.tokenSecret",
  "*.secret",
  "*.password",
  "*.authorization",
  "*.Authorization",
  "headers.authorization",
  "headers.Authorization",
];

export function createLogger(
  options: { level?: string; name?: string } = {},
  destination?: pino.DestinationStream,
): Logger {
  const opts = {
    level: options.level ?? "info",
    name: options.name ?? "pve-evacuate",
    redact: { paths: REDACT_PATHS, censor: "[redacted]" },
  };
  return destination ? pino(opts, destination) : pino(opts);
}
