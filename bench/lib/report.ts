import { execFileSync } from 'node:child_process';
import os from 'node:os';
import type { LoadResult } from './load.js';

export interface Row {
  scenario: string;
  result: LoadResult | null;
  /** Throughput shown instead of req/s (S5: documents/s). */
  throughput?: string;
  /** e.g. "0.82× B1" */
  ratio?: string;
  target?: string;
  met?: boolean | null;
  note?: string;
}

const fmt = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : '–');

export function table(rows: Row[]): string {
  const lines = [
    '| Scenario | req/s | p50 ms | p99 ms | errors | ratio | target | met? |',
    '|---|---:|---:|---:|---:|---:|---|:---:|',
  ];
  for (const r of rows) {
    const res = r.result;
    const met = r.met === undefined || r.met === null ? '' : r.met ? 'yes' : '**no**';
    const rps = res ? (r.throughput ?? fmt(res.rps, 0)) : (r.note ?? 'not run');
    lines.push(`| ${r.scenario} | ${rps} | ${res ? fmt(res.p50) : ''} | ${res ? fmt(res.p99) : ''} | ${res ? res.errors : ''} | ${r.ratio ?? ''} | ${r.target ?? ''} | ${met} |`);
  }
  return lines.join('\n');
}

function gitSha(root: string): string {
  try {
    const sha = execFileSync('git', ['-C', root, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['-C', root, 'status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8' }).trim();
    return dirty ? `${sha}-dirty` : sha;
  } catch {
    return 'unknown';
  }
}

export function machine(root: string, extra: Record<string, string>): Record<string, string> {
  const cpus = os.cpus();
  return {
    date: new Date().toISOString(),
    'git sha': gitSha(root),
    cores: String(cpus.length),
    cpu: cpus[0]?.model ?? 'unknown',
    memory: `${Math.round(os.totalmem() / 2 ** 30)} GiB`,
    'load average at start': os.loadavg().map((l) => l.toFixed(2)).join(' '),
    node: process.version,
    os: `${os.type()} ${os.release()}`,
    ...extra,
  };
}

export function markdown(title: string, details: Record<string, string>, body: string, notes: string[]): string {
  const meta = Object.entries(details)
    .map(([k, v]) => `- ${k}: ${v}`)
    .join('\n');
  return `# ${title}\n\n${meta}\n\n${body}\n\n${notes.map((n) => `- ${n}`).join('\n')}\n`;
}
