import { inspect } from "node:util";

const REDACTED = "[redacted]";

/**
 * Wraps a secret so that logging, JSON, string templates and util.inspect never show it.
 * Only `reveal()` gives the value, which makes every use greppable.
 */
export class Secret {
  readonly #value: string;
  constructor(value: string) {
    this.#value = value;
  }
  reveal(): string {
    return this.#value;
  }
  toString(): string {
    return REDACTED;
  }
  toJSON(): string {
    return REDACTED;
  }
  [inspect.custom](): string {
    return REDACTED;
  }
}
