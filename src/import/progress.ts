import { SingleBar, Presets } from 'cli-progress';

// Progress per table on stderr (stdout carries the plan and the summary): a bar with rows/s
// and ETA on a terminal, one plain line per batch otherwise (CI logs, ECS tasks).

export interface Progress {
  start(label: string, total: number): void;
  tick(rows: number): void;
  stop(): void;
}

function rate(done: number, startedAt: number): number {
  const s = (Date.now() - startedAt) / 1000;
  return s > 0 ? Math.round(done / s) : 0;
}

export function createProgress(stream: NodeJS.WriteStream = process.stderr, quiet = false): Progress {
  let label = '';
  let total = 0;
  let done = 0;
  let startedAt = 0;
  if (quiet) return { start() {}, tick() {}, stop() {} };
  const begin = (l: string, t: number) => {
    label = l;
    total = t;
    done = 0;
    startedAt = Date.now();
  };
  if (stream.isTTY) {
    let bar: SingleBar | null = null;
    return {
      start(l, t) {
        begin(l, t);
        bar = new SingleBar(
          { format: `${l.padEnd(22)} [{bar}] {value}/{total} | {rate} rows/s | ETA {eta_formatted}`, stream, hideCursor: true, etaBuffer: 50 },
          Presets.shades_classic,
        );
        bar.start(Math.max(t, 1), 0, { rate: 0 });
      },
      tick(n) {
        done += n;
        bar?.update(Math.min(done, Math.max(total, 1)), { rate: rate(done, startedAt) });
      },
      stop() {
        bar?.stop();
        bar = null;
      },
    };
  }
  return {
    start: begin,
    tick(n) {
      done += n;
      const r = rate(done, startedAt);
      const eta = r > 0 ? Math.max(0, Math.round((total - done) / r)) : 0;
      const pct = total > 0 ? Math.min(100, Math.floor((done / total) * 100)) : 100;
      stream.write(`${label}: ${done}/${total} rows (${pct}%), ${r} rows/s, eta ${eta}s\n`);
    },
    stop() {},
  };
}
