import { pbkdf2 } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { setPriority } from 'node:os';
import { readProcStat } from './proc-stat.js';

// libuv's thread pool (UV_THREADPOOL_SIZE threads, 4 by default) runs argon2, scrypt, file
// system calls and DNS lookups off the event loop. Node gives no handle on its threads; on
// Linux they are found by what they do, and their scheduling priority set like any thread's.

const POOL_SIZE = Number(process.env.UV_THREADPOOL_SIZE) || 4;

/** CPU ticks (utime + stime) of each of this process's threads, by thread id. */
function threadTicks(): Map<number, number> {
  const ticks = new Map<number, number>();
  for (const tid of readdirSync('/proc/self/task')) {
    // null: the thread ended between the listing and the read.
    const stat = readProcStat(`/proc/self/task/${tid}/stat`);
    if (stat) ticks.set(Number(tid), stat.ticks);
  }
  return ticks;
}

// One piece of work per pool thread, CPU only (no memory to speak of), long enough (~40 ms) to
// show as several of the thread's CPU ticks (10 ms each), and run in the background once ready.
const probe = () => new Promise<void>((resolve) => pbkdf2('probe', 'probe', 80_000, 32, 'sha256', () => resolve()));

/**
 * The thread ids of libuv's pool: as many pieces of work as the pool has threads are queued at
 * once, so each thread takes one, and the threads whose CPU time grew meanwhile are the pool.
 * null when that is not exactly the pool's size (another thread was busy too, not Linux):
 * nothing is guessed.
 */
async function findThreadPool(): Promise<number[] | null> {
  if (process.platform !== 'linux') return null;
  for (let attempt = 0; attempt < 3; attempt++) {
    const before = threadTicks();
    await Promise.all(Array.from({ length: POOL_SIZE }, probe));
    const growth = [...threadTicks()].filter(([tid]) => tid !== process.pid).map(([tid, ticks]) => [tid, ticks - (before.get(tid) ?? ticks)] as const);
    // Each pool thread ran one probe; another thread (a V8 helper collecting garbage, say) may
    // have been charged a tick meanwhile, far fewer than a probe's.
    const most = Math.max(0, ...growth.map(([, grown]) => grown));
    const grew = growth.filter(([, grown]) => grown > 0 && grown * 3 >= most).map(([tid]) => tid);
    if (grew.length === POOL_SIZE) return grew;
  }
  return null;
}

/**
 * Lowers the pool's threads to `nice`, so that when the CPU is contended the kernel gives the
 * event loop (and the database) the larger share and the pool's work the rest. At +5 a pool
 * thread weighs about a third of a nice-0 thread (the kernel's weights 335 and 1024): reads
 * keep their latency during a login storm and logins still progress (docs/benchmarks.md, S7).
 * Returns whether it did.
 */
export async function lowerThreadPoolPriority(nice = 5): Promise<boolean> {
  try {
    const pool = await findThreadPool();
    if (!pool) return false;
    for (const tid of pool) setPriority(tid, nice);
    return true;
  } catch {
    return false;
  }
}
