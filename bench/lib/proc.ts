import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { readProcStat, type ProcStat } from '../../src/lib/proc-stat.js';

// CPU time and memory of the processes under test, read from /proc (Linux). On a shared
// machine another tenant's load changes req/s far more than it changes the CPU time one
// request costs, so the report states both.

let ticksPerSecond: number | null = null;
function clockTicks(): number {
  if (ticksPerSecond === null) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

function readStat(pid: number): ProcStat | null {
  return readProcStat(`/proc/${pid}/stat`);
}

export const procAvailable = (() => {
  try {
    readFileSync('/proc/self/stat');
    return true;
  } catch {
    return false;
  }
})();

/** CPU seconds one process has used so far (every thread: argon2's libuv workers included). */
export function processCpuS(pid: number): number | null {
  const s = readStat(pid);
  return s ? s.ticks / clockTicks() : null;
}

/** The postmaster's pid: the first line of postmaster.pid in the data directory. */
export function postmasterPid(dataDir: string): number | null {
  try {
    const pid = Number(readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

/**
 * CPU seconds the whole PostgreSQL server has used so far: the postmaster, its live children
 * (backends, walwriter, checkpointer, autovacuum...), and the children that have exited,
 * which the postmaster has reaped into its cutime/cstime. A backend that ends between two
 * readings is therefore still counted.
 */
export function postgresCpuS(pmPid: number): number | null {
  const pm = readStat(pmPid);
  if (!pm) return null;
  let ticks = pm.ticks + pm.reapedTicks;
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const s = readStat(Number(name));
    if (s?.ppid === pmPid) ticks += s.ticks + s.reapedTicks;
  }
  return ticks / clockTicks();
}

/** Resident set size now and its high-water mark, in MB. */
export function memoryMb(pid: number): { rss: number; hwm: number } | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    return { rss: kb('VmRSS') / 1024, hwm: kb('VmHWM') / 1024 };
  } catch {
    return null;
  }
}

export interface Usage {
  /** CPU seconds of the process serving the requests (API or floor); null: none (pgbench) or no /proc. */
  appS: number | null;
  /** CPU seconds of all PostgreSQL server processes; null: not measurable (a remote database). */
  pgS: number | null;
  /** The serving process's largest RSS sampled during the window, MB. */
  rssPeakMb: number | null;
}

/**
 * Starts measuring: CPU readings now and at stop(), the serving process's RSS every 100 ms
 * in between. `settleMs` waits before the last reading (pgbench's backends exit as it ends).
 */
export function meter(appPid: number | null, pgDataDir: string | null): { stop(settleMs?: number): Promise<Usage> } {
  const pm = pgDataDir && procAvailable ? postmasterPid(pgDataDir) : null;
  const app0 = appPid && procAvailable ? processCpuS(appPid) : null;
  const pg0 = pm ? postgresCpuS(pm) : null;
  let rssPeak: number | null = null;
  const sample = () => {
    const m = appPid && procAvailable ? memoryMb(appPid) : null;
    if (m && Number.isFinite(m.rss)) rssPeak = Math.max(rssPeak ?? 0, m.rss);
  };
  sample();
  const timer = setInterval(sample, 100);
  return {
    async stop(settleMs = 0) {
      if (settleMs) await new Promise((r) => setTimeout(r, settleMs));
      clearInterval(timer);
      sample();
      const app1 = appPid && app0 !== null ? processCpuS(appPid) : null;
      const pg1 = pm && pg0 !== null ? postgresCpuS(pm) : null;
      return { appS: app0 !== null && app1 !== null ? app1 - app0 : null, pgS: pg0 !== null && pg1 !== null ? pg1 - pg0 : null, rssPeakMb: rssPeak };
    },
  };
}
