import { execFileSync } from 'node:child_process';
import os from 'node:os';
import { cpuPerRequest, type LoadResult } from './load.js';

export interface Row {
  scenario: string;
  result: LoadResult | null;
  /** Throughput shown instead of req/s (S5: documents/s). */
  throughput?: string;
  /** CPU columns from another result (S7: both loads together). */
  cpuOf?: LoadResult | null;
  /** What the row is judged against, e.g. "B1 list". */
  floor?: string;
  /** Throughput (and latency) ratio to the floor, e.g. "0.82×". */
  ratio?: string;
  /** The floor's CPU per request over this row's (app + PostgreSQL): 1.0 costs what the floor costs. */
  cpuRatio?: string;
  target?: string;
  /** Against the target as stated, by req/s (and p99 where the target names it). */
  met?: boolean | null;
  /** The same target's throughput part judged by CPU per request instead of req/s. */
  metCpu?: boolean | null;
  note?: string;
}

const fmt = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : '–');
/** CPU ms per request: three significant digits without exponent notation. */
export const fmtMs = (n: number | null) => (n === null ? '–' : n < 1 ? n.toFixed(3) : n < 10 ? n.toFixed(2) : n < 100 ? n.toFixed(1) : n.toFixed(0));
const yesNo = (b: boolean | null | undefined) => (b === undefined || b === null ? '' : b ? 'met' : '**missed**');

export function table(rows: Row[]): string {
  const lines = [
    '| Scenario | req/s | p50 ms | p99 ms | errors | API CPU ms/req | PG CPU ms/req | peak RSS MB | floor | ratio (req/s) | ratio (CPU) | target | req/s | CPU |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---|:---:|:---:|',
  ];
  for (const r of rows) {
    const res = r.result;
    const rps = res ? (r.throughput ?? fmt(res.rps, 0)) : (r.note ?? 'not run');
    const cpu = cpuPerRequest(r.cpuOf ?? res);
    const rss = res?.usage?.rssPeakMb;
    const cells = res
      ? [fmt(res.p50), fmt(res.p99), String(res.errors), fmtMs(cpu.app), fmtMs(cpu.pg), rss == null ? '–' : fmt(rss, 0)]
      : ['', '', '', '', '', ''];
    lines.push(`| ${[r.scenario, rps, ...cells, r.floor ?? '', r.ratio ?? '', r.cpuRatio ?? '', r.target ?? '', yesNo(r.met), yesNo(r.metCpu)].join(' | ')} |`);
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
