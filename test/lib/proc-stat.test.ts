import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readProcStat, readSchedstatNs } from '../../src/lib/proc-stat.js';

describe('readProcStat', () => {
  it('reads the fields after a command name that holds spaces and parentheses', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'proc-stat-'));
    const file = path.join(dir, 'stat');
    // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime cutime cstime ...
    writeFileSync(file, '4242 (node (worker) x) S 17 4242 4242 0 -1 4194560 10 0 0 0 250 50 7 3 20 0 11 0\n');
    expect(readProcStat(file)).toEqual({ ppid: 17, ticks: 300, reapedTicks: 10 });
  });

  it('is null for a process that is gone', () => {
    expect(readProcStat('/proc/0/no-such-stat')).toBeNull();
  });

  it.runIf(process.platform === 'linux')("reads this process's own line, whose CPU time grows with work", () => {
    const before = readProcStat('/proc/self/stat')!;
    expect(before.ppid).toBe(process.ppid);
    // 50 ms of this thread's own CPU (not wall time: a loaded machine may not schedule it), five ticks.
    const start = process.cpuUsage();
    const giveUp = Date.now() + 10_000;
    let x = 0;
    while (process.cpuUsage(start).user < 50_000 && Date.now() < giveUp) for (let i = 0; i < 10_000; i++) x += Math.sqrt(x + 1);
    expect(x).toBeGreaterThan(0);
    const after = readProcStat('/proc/self/stat')!;
    expect(after.ticks).toBeGreaterThan(before.ticks);
  });
});

describe('readSchedstatNs', () => {
  it('reads the first field, nanoseconds on the CPU', () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'schedstat-')), 'schedstat');
    writeFileSync(file, '363210447 1031500 13\n');
    expect(readSchedstatNs(file)).toBe(363_210_447);
  });

  it('is null for a thread that is gone', () => {
    expect(readSchedstatNs('/proc/0/no-such-schedstat')).toBeNull();
  });
});
