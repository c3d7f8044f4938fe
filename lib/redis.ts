/**
 * Redis connections. BullMQ needs `maxRetriesPerRequest: null` on the connections it blocks on; the
 * rest of the tool shares the same settings so one factory serves all. The URL may hold a password:
 * `describeRedisUrl` is what goes into messages.
 */
import { Redis } from "ioredis";

export function createRedis(url: string, options: { failFast?: boolean } = {}): Redis {
  // failFast: a command fails after one reconnect attempt instead of waiting for Redis to come back,
  // for paths that answer a person (a chat command must say "Redis is down", not hang and run later).
  const redis = new Redis(url, { maxRetriesPerRequest: options.failFast ? 1 : null, lazyConnect: false });
  // Connection errors reach callers through their failing commands (and /healthz, doctor); without a
  // listener ioredis would also print every reconnect attempt as "Unhandled error event".
  redis.on("error", () => {});
  return redis;
}

export function describeRedisUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return "(unparseable REDIS_URL)";
  }
}

/** Deletes every key under `prefix:` (tests, the demo, benchmarks); SCAN, so Redis is never blocked. */
export async function deleteByPrefix(redis: Redis, prefix: string): Promise<void> {
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 500);
    if (keys.length > 0) await redis.del(...keys);
    cursor = next;
  } while (cursor !== "0");
}
