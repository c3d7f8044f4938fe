/**
 * Our own "one migration at a time" guard on top of BullMQ's concurrency settings (its global
 * concurrency has had bugs): a Redis lock owned by the job that migrates, renewed while it runs and
 * expiring on its own if that worker dies, so the stalled job can take it back after a restart.
 */
import type { Redis } from "ioredis";

const RELEASE = `if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) else return 0 end`;
const RENEW = `if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("PEXPIRE", KEYS[1], ARGV[2]) else return 0 end`;

export interface MigrationLock {
  /** True when `owner` now holds the lock (also when it already held it: a re-run of the same job). */
  acquire(owner: string): Promise<boolean>;
  /** Who holds it, if anyone. */
  holder(): Promise<string | undefined>;
  renew(owner: string): Promise<boolean>;
  release(owner: string): Promise<void>;
}

export function createMigrationLock(redis: Redis, key: string, ttlMs: number): MigrationLock {
  return {
    async acquire(owner) {
      const set = await redis.set(key, owner, "PX", ttlMs, "NX");
      if (set === "OK") return true;
      const renewed = await redis.eval(RENEW, 1, key, owner, String(ttlMs));
      return renewed === 1;
    },
    async holder() {
      return (await redis.get(key)) ?? undefined;
    },
    async renew(owner) {
      return (await redis.eval(RENEW, 1, key, owner, String(ttlMs))) === 1;
    },
    async release(owner) {
      await redis.eval(RELEASE, 1, key, owner);
    },
  };
}
