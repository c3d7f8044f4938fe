/**
 * A cluster view kept for ~10 s, so autocomplete answers inside Discord's 3 s from memory. A stale view
 * is served at once while a refresh runs behind it; only the very first request waits, and not longer
 * than `firstWaitMs` (autocomplete then offers nothing rather than time out).
 */
import { gatherClusterData } from "../planning/clusterData.ts";
import { buildClusterView, type ClusterView } from "../planning/clusterView.ts";
import type { PveClient } from "../proxmox/port.ts";

export interface ClusterCache {
  /** The cached view (possibly a little stale); undefined when none could be had in time. */
  view(): Promise<ClusterView | undefined>;
  /** A fresh view now (commands that report use it; autocomplete never does). */
  refresh(): Promise<ClusterView>;
  /** Age of the cached view in ms, Infinity without one. */
  ageMs(): number;
}

export function createClusterCache(o: {
  pve: PveClient;
  ttlMs?: number;
  firstWaitMs?: number;
  now?: () => number;
  onError?: (e: unknown) => void;
}): ClusterCache {
  const ttl = o.ttlMs ?? 10_000;
  const firstWait = o.firstWaitMs ?? 2000;
  const now = o.now ?? (() => performance.now());
  let cached: { view: ClusterView; at: number } | undefined;
  let inflight: Promise<ClusterView> | undefined;

  function refresh(): Promise<ClusterView> {
    if (inflight) return inflight;
    // No guest configs: the view only needs nodes, maintenance state and where each guest runs.
    inflight = gatherClusterData(o.pve, { vmids: [] })
      .then((data) => {
        const view = buildClusterView(data);
        cached = { view, at: now() };
        return view;
      })
      .finally(() => {
        inflight = undefined;
      });
    return inflight;
  }

  return {
    async view() {
      if (cached) {
        if (now() - cached.at > ttl) refresh().catch((e) => o.onError?.(e));
        return cached.view;
      }
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<undefined>((resolve) => {
        timer = setTimeout(() => resolve(undefined), firstWait);
      });
      try {
        return await Promise.race([
          refresh().catch((e) => {
            o.onError?.(e);
            return undefined;
          }),
          timeout,
        ]);
      } finally {
        clearTimeout(timer);
      }
    },
    refresh,
    ageMs: () => (cached ? now() - cached.at : Number.POSITIVE_INFINITY),
  };
}
