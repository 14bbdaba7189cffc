import { pbkdf2, pbkdf2Sync } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { setPriority } from 'node:os';
import { readProcStat, readSchedstatNs } from './proc-stat.js';

// libuv's thread pool (UV_THREADPOOL_SIZE threads, 4 by default) runs argon2, scrypt, file
// system calls and DNS lookups off the event loop. Node gives no handle on its threads; on
// Linux they are found by what they do, and their scheduling priority set like any thread's.

const POOL_SIZE = Number(process.env.UV_THREADPOOL_SIZE) || 4;

// A thread's CPU time: /proc/<tid>/schedstat's first field counts it in nanoseconds, exactly
// (kernels with CONFIG_SCHED_INFO, as most distributions' and this project's machines have); stat's
// utime + stime count it in ticks of 1/USER_HZ s (100 on every Linux Node runs on), sampled
// at the timer interrupt: ~10 ± 3 ticks for 100 ms run in slices between other threads.
const TICK_MS = 10;

// Whether schedstat counts here: this thread has run, so a kernel that keeps it shows more than 0.
const exactCpuTime = process.platform === 'linux' && (readSchedstatNs('/proc/thread-self/schedstat') ?? 0) > 0;

/** CPU time in ms of each of this process's threads, by thread id. */
function threadCpuMs(): Map<number, number> {
  const used = new Map<number, number>();
  for (const tid of readdirSync('/proc/self/task')) {
    // null: the thread ended between the listing and the read.
    if (exactCpuTime) {
      const ns = readSchedstatNs(`/proc/self/task/${tid}/schedstat`);
      if (ns !== null) used.set(Number(tid), ns / 1e6);
    } else {
      const stat = readProcStat(`/proc/self/task/${tid}/stat`);
      if (stat) used.set(Number(tid), stat.ticks * TICK_MS);
    }
  }
  return used;
}

// Each probe is one piece of CPU-only work (no memory to speak of) of about PROBE_MS on one core.
const PROBE_MS = 100;
// The pool's threads are told from the others by how much more CPU they used while the probes
// ran: at least GAP times the busiest other thread's. V8's helper threads collecting garbage
// meanwhile used 20–69 ms where the pool's used 56–300 (schedstat, a test process allocating
// hard), 1.6× at the closest; a thread that merely woke up uses next to nothing. Threads as busy
// as the pool's make the search fail, never guess.
const GAP = 1.5;
// ... and at least this much: a quarter of a probe, when every other thread was idle.
const MIN_MS = PROBE_MS / 4;

/**
 * pbkdf2 iterations that take about PROBE_MS of one core here, from the quickest of a few short
 * runs on this thread (~1 ms each): a fixed count would be a few ticks on a fast core, too few
 * to tell a pool thread from a thread that merely woke up meanwhile.
 */
function probeIterations(): number {
  const sample = 2_000;
  let quickest = Infinity;
  for (let i = 0; i < 5; i++) {
    const start = performance.now();
    pbkdf2Sync('probe', 'probe', sample, 32, 'sha256');
    quickest = Math.min(quickest, performance.now() - start);
  }
  return Math.ceil((sample * PROBE_MS) / Math.max(quickest, 0.01));
}

const probe = (iterations: number) => new Promise<void>((resolve) => pbkdf2('probe', 'probe', iterations, 32, 'sha256', () => resolve()));

/**
 * The thread ids of libuv's pool: as many probes as the pool has threads are queued at once.
 * Each pool thread runs one (or was busy with other pool work the whole time), so each uses at
 * least a probe's CPU time; the pool is the POOL_SIZE threads that used the most, when they
 * stand clear of the rest. null when no attempt shows that (or not Linux): nothing is guessed.
 */
async function findThreadPool(attempts: number): Promise<number[] | null> {
  if (process.platform !== 'linux') return null;
  const iterations = probeIterations();
  for (let attempt = 0; attempt < attempts; attempt++) {
    const before = threadCpuMs();
    await Promise.all(Array.from({ length: POOL_SIZE }, () => probe(iterations)));
    const used = [...threadCpuMs()]
      .filter(([tid]) => tid !== process.pid)
      .map(([tid, ms]) => [tid, ms - (before.get(tid) ?? ms)] as const)
      .sort((x, y) => y[1] - x[1]);
    const pool = used.slice(0, POOL_SIZE);
    const least = pool.at(-1)?.[1] ?? 0;
    const nextBusiest = used[POOL_SIZE]?.[1] ?? 0;
    if (pool.length === POOL_SIZE && least >= MIN_MS && least >= GAP * nextBusiest) return pool.map(([tid]) => tid);
  }
  return null;
}

export interface PoolPriorityOptions {
  nice?: number;
  /** Probe rounds per search (see findThreadPool). */
  attempts?: number;
  /**
   * When a search fails, how long to wait before each next one: a task taking traffic from its
   * first second keeps V8's helper threads busy enough to hide the pool now and then.
   */
  retryAfterMs?: readonly number[];
}

const RETRY_AFTER_MS = [5_000, 30_000, 120_000, 600_000];

/**
 * Lowers the pool's threads to `nice`, so that when the CPU is contended the kernel gives the
 * event loop (and the database) the larger share and the pool's work the rest. At +5 a pool
 * thread weighs about a third of a nice-0 thread (the kernel's weights 335 and 1024): reads
 * keep their latency during a login storm and logins still progress (docs/benchmarks.md, S7).
 * Resolves true once it did, false when the last search failed too; the waits between searches
 * do not keep the process alive.
 */
export async function lowerThreadPoolPriority({ nice = 5, attempts = 3, retryAfterMs = RETRY_AFTER_MS }: PoolPriorityOptions = {}): Promise<boolean> {
  for (let search = 0; ; search++) {
    try {
      const pool = await findThreadPool(attempts);
      if (pool) {
        for (const tid of pool) setPriority(tid, nice);
        return true;
      }
    } catch {
      // A thread ended mid-search, or setPriority was refused: as not found.
    }
    const wait = retryAfterMs[search];
    if (wait === undefined) return false;
    await new Promise<void>((resolve) => setTimeout(resolve, wait).unref());
  }
}
