import { readFileSync } from 'node:fs';

// /proc/<pid>/stat and /proc/<pid>/task/<tid>/stat (Linux, proc(5)): one line of fields after
// the command name, which is in parentheses and may itself hold spaces and parentheses. And
// schedstat beside them: three numbers, the first the CPU time in nanoseconds.

export interface ProcStat {
  ppid: number;
  /** utime + stime: CPU time used so far, in clock ticks. */
  ticks: number;
  /** cutime + cstime: CPU time of the children this process has waited for, in clock ticks. */
  reapedTicks: number;
}

/** The stat line at `path` (e.g. `/proc/self/task/123/stat`), or null when it cannot be read (the process or thread ended). */
export function readProcStat(path: string): ProcStat | null {
  const text = readProcFile(path);
  if (text === null) return null;
  // Fields counted from after the command name: state is 0, ppid 1, utime 11, stime 12, cutime 13, cstime 14.
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]), reapedTicks: Number(f[13]) + Number(f[14]) };
}

/**
 * CPU time in nanoseconds from `/proc/<pid>/schedstat` or `/proc/<pid>/task/<tid>/schedstat`
 * (its first field, exact where the kernel has CONFIG_SCHED_INFO), or null when it cannot be read.
 */
export function readSchedstatNs(path: string): number | null {
  const text = readProcFile(path);
  if (text === null) return null;
  const ns = Number(text.split(' ', 1)[0]);
  return Number.isFinite(ns) ? ns : null;
}

/** A /proc file's text, or null when it cannot be read (the process or thread ended, not Linux). */
function readProcFile(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}
