import { performance, type EventLoopUtilization } from 'node:perf_hooks';

// How many hashes may run at once, decided by how busy the event loop is. A hash holds a core
// for tens of milliseconds; with every core hashing, a read that arrives meanwhile waits for the
// kernel to take one back, however low the pool's priority, and its latency tail grows with
// the storm (docs/benchmarks.md, S7). While the loop is busy serving other requests, hashes
// keep to cores − 1 and one core stays free for them; while it is mostly idle (nothing but
// logins, or nothing at all) hashes use every core.

export interface HashLimit {
  concurrency: number;
}

export interface HashShareOptions {
  /** How often the loop's utilisation is read. */
  everyMs?: number;
  /** Above this share of the last interval spent working, the loop counts as busy. */
  busyAbove?: number;
}

/**
 * Sets `limit.concurrency` to `cores` or `cores − 1` (at least 1) every `everyMs`, from the event
 * loop's utilisation over the interval just ended. The timer does not keep the process alive;
 * the returned function stops it.
 */
export function shareCoresWithRequests(limit: HashLimit, cores: number, { everyMs = 200, busyAbove = 0.5 }: HashShareOptions = {}): () => void {
  const all = Math.max(1, cores);
  const yielding = Math.max(1, cores - 1);
  let last: EventLoopUtilization = performance.eventLoopUtilization();
  const timer = setInterval(() => {
    const now = performance.eventLoopUtilization();
    const busy = performance.eventLoopUtilization(now, last).utilization > busyAbove;
    last = now;
    const wanted = busy ? yielding : all;
    if (limit.concurrency !== wanted) limit.concurrency = wanted;
  }, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
