import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

/**
 * The functions with the most self time in a V8 .cpuprofile (written by node --cpu-prof),
 * grouped by package or source file so the answer reads "where the time goes".
 */
export function summarizeProfile(dir: string, top = 25): string {
  // CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile: thread 0 is the main thread (the
  // others are loader workers).
  const file = readdirSync(dir).find((f) => /^CPU\.\d+\.\d+\.\d+\.0\.\d+\.cpuprofile$/.test(f));
  if (!file) return `no profile in ${dir}`;
  const profile = JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] };
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const fnTime = new Map<string, number>();
  const pkgTime = new Map<string, number>();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    const frame = byId.get(id)!.callFrame;
    total += dt;
    const where = frame.url.includes('node_modules/')
      ? frame.url.split('node_modules/').at(-1)!.split('/').slice(0, frame.url.includes('node_modules/@') ? 2 : 1).join('/')
      : frame.url.startsWith('node:') ? frame.url : frame.url ? path.relative(process.cwd(), frame.url.replace('file://', '')) : `(${frame.functionName || 'native'})`;
    const fn = `${frame.functionName || '(anonymous)'} ${frame.url ? `${where}:${frame.lineNumber + 1}` : ''}`;
    fnTime.set(fn, (fnTime.get(fn) ?? 0) + dt);
    pkgTime.set(where, (pkgTime.get(where) ?? 0) + dt);
  });
  const pct = (t: number) => `${((100 * t) / total).toFixed(1)}%`;
  const rows = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]).slice(0, top).map(([k, t]) => `| ${pct(t)} | \`${k.replaceAll('|', '\\|')}\` |`);
  return [`Profile ${file}: ${(total / 1e6).toFixed(1)} s sampled.`, '', '| self | package or file |', '|---:|---|', ...rows(pkgTime), '', '| self | function |', '|---:|---|', ...rows(fnTime)].join('\n');
}
