import autocannon from 'autocannon';
import type { Usage } from './proc.js';

export interface Req {
  method: 'GET' | 'POST' | 'PATCH';
  path: string;
  headers?: Record<string, string>;
  body?: string;
}

export interface LoadResult {
  requests: number;
  rps: number;
  p50: number;
  p99: number;
  /** Socket errors, timeouts and non-2xx responses. */
  errors: number;
  statuses: Record<string, number>;
  /** CPU and memory of the processes under test during the run (bench/lib/proc.ts). */
  usage?: Usage;
}

/**
 * Drives `connections` keep-alive connections for `durationS` seconds; every request is
 * built by `next()`, so each one can carry another user's token and another id. With `rate`,
 * at most that many requests per second in all (autocannon's overallRate), instead of flat out.
 */
export async function load(baseUrl: string, next: () => Req, opts: { connections: number; durationS: number; rate?: number }): Promise<LoadResult> {
  const statuses: Record<string, number> = {};
  const instance = autocannon({
    url: baseUrl,
    connections: opts.connections,
    duration: opts.durationS,
    ...(opts.rate ? { overallRate: Math.max(1, Math.round(opts.rate)) } : {}),
    timeout: 10,
    requests: [
      {
        setupRequest: (req) => {
          const r = next();
          return { ...req, method: r.method, path: r.path, headers: { ...r.headers, ...(r.body ? { 'content-type': 'application/json' } : {}) }, body: r.body };
        },
        onResponse: (status) => {
          statuses[status] = (statuses[status] ?? 0) + 1;
        },
      },
    ],
  });
  const result = await instance;
  const total = result.requests.total;
  return {
    requests: total,
    rps: total / (result.duration || opts.durationS),
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.timeouts + result.non2xx,
    statuses,
  };
}

/** Averages repeated runs of one scenario (errors are summed, CPU time too); null when none ran. */
export function mean(runs: LoadResult[]): LoadResult | null {
  if (runs.length === 0) return null;
  const avg = (f: (r: LoadResult) => number) => runs.reduce((s, r) => s + f(r), 0) / runs.length;
  const statuses: Record<string, number> = {};
  for (const r of runs) for (const [k, v] of Object.entries(r.statuses)) statuses[k] = (statuses[k] ?? 0) + v;
  // CPU per request is total CPU over total requests, so requests and CPU both add up.
  const sum = (f: (u: Usage) => number | null) => (runs.every((r) => r.usage && f(r.usage) !== null) ? runs.reduce((s, r) => s + f(r.usage!)!, 0) / runs.length : null);
  const peaks = runs.map((r) => r.usage?.rssPeakMb).filter((m): m is number => m != null);
  const usage: Usage | undefined = runs.some((r) => r.usage) ? { appS: sum((u) => u.appS), pgS: sum((u) => u.pgS), rssPeakMb: peaks.length ? Math.max(...peaks) : null } : undefined;
  return { requests: avg((r) => r.requests), rps: avg((r) => r.rps), p50: avg((r) => r.p50), p99: avg((r) => r.p99), errors: runs.reduce((s, r) => s + r.errors, 0), statuses, usage };
}

/** CPU milliseconds per request of the serving process and of PostgreSQL; null where not measured. */
export function cpuPerRequest(r: LoadResult | null): { app: number | null; pg: number | null; total: number | null } {
  if (!r?.usage || r.requests === 0) return { app: null, pg: null, total: null };
  const per = (s: number | null) => (s === null ? null : (1000 * s) / r.requests);
  const app = per(r.usage.appS);
  const pg = per(r.usage.pgS);
  return { app, pg, total: app === null && pg === null ? null : (app ?? 0) + (pg ?? 0) };
}
