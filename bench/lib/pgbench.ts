import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { LoadResult } from './load.js';

const run = promisify(execFile);

/** pgbench from PATH, else the Debian client packages; null when the machine has none. */
export function findPgbench(): string | null {
  const candidates = [process.env.PGBENCH, ...['18', '17', '16', '15', '14'].map((v) => `/usr/lib/postgresql/${v}/bin/pgbench`)];
  for (const dir of (process.env.PATH ?? '').split(':')) candidates.push(path.join(dir, 'pgbench'));
  return candidates.find((c): c is string => Boolean(c) && existsSync(c!)) ?? null;
}

export async function pgbenchVersion(bin: string): Promise<string> {
  const { stdout } = await run(bin, ['--version']);
  return stdout.trim();
}

/**
 * Runs one custom script with prepared statements on `clients` connections (the API's pool
 * size) and reads the per-transaction log for the latency percentiles.
 */
export async function pgbench(bin: string, url: string, script: string, opts: { clients: number; durationS: number }): Promise<LoadResult> {
  const dir = mkdtempSync(path.join(tmpdir(), 'offbase-pgbench-'));
  try {
    const file = path.join(dir, 'script.sql');
    writeFileSync(file, script);
    const threads = Math.min(opts.clients, 2);
    const args = ['-n', '-M', 'prepared', '-c', String(opts.clients), '-j', String(threads), '-T', String(opts.durationS), '-f', file, '-l', '--log-prefix', path.join(dir, 'tx'), url];
    const { stdout } = await run(bin, args, { cwd: dir, maxBuffer: 16 * 1024 * 1024 });
    const tps = Number(/tps = ([\d.]+) \(without initial connection time\)/.exec(stdout)?.[1] ?? NaN);
    const failed = Number(/number of failed transactions: (\d+)/.exec(stdout)?.[1] ?? 0);
    // Log lines: client_id transaction_no time_us script_no epoch_s epoch_us
    const latencies: number[] = [];
    for (const f of readdirSync(dir).filter((n) => n.startsWith('tx'))) {
      for (const line of readFileSync(path.join(dir, f), 'utf8').split('\n')) {
        const us = Number(line.split(' ')[2]);
        if (Number.isFinite(us) && line) latencies.push(us / 1000);
      }
    }
    latencies.sort((a, b) => a - b);
    const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? NaN;
    return { requests: latencies.length, rps: tps, p50: pct(50), p99: pct(99), errors: failed, statuses: {} };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
