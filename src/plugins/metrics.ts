import { timingSafeEqual, createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { Counter, Gauge, Registry, collectDefaultMetrics, type Metric } from 'prom-client';
import type { Config } from '../config.js';
import type { StatementAdmission } from '../db/client.js';
import { AppError } from '../errors/app-error.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** This app's Prometheus registry (one per app, so tests can build many apps). */
    metrics: Registry;
  }
}

// Buckets around what an API like this answers in: 5 ms to 10 s.
export const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

type HttpLabels = { method: string; route: string; status_code: string };
interface HttpSeriesEntry {
  labels: HttpLabels;
  count: number;
  sum: number;
  /** Observations per bucket, not cumulative; one above the last bound counts in +Inf only. */
  perBucket: number[];
}

/**
 * http_requests_total and http_request_duration_seconds by (method, route template, status).
 * prom-client hashes and validates the label object on every inc and observe (its labels()
 * children too), so a request only bumps plain numbers here; the registry reads them when
 * scraped: the counter through its collect(), the histogram as the values prom-client's own
 * Histogram would hand the registry (cumulative buckets, `le` first, +Inf, _sum, _count; no
 * exemplars), so the exposition is the registry's, line for line what prom-client's metrics
 * wrote.
 */
export class HttpSeries {
  /** Every series, in the order first seen (the exposition's order). */
  private readonly series: HttpSeriesEntry[] = [];

  constructor(registry: Registry) {
    const series = this.series;
    const byRoute = this.byRoute;
    const labelNames = ['method', 'route', 'status_code'] as const;
    new Counter({
      name: 'http_requests_total',
      help: 'HTTP requests completed',
      labelNames,
      registers: [registry],
      collect() {
        this.reset();
        for (const { labels, count } of series) this.inc(labels, count);
      },
    });
    const name = 'http_request_duration_seconds';
    const help = 'HTTP request duration until the response was sent';
    const duration = {
      name,
      help,
      type: 'histogram',
      aggregator: 'sum',
      async get() {
        const values: { labels: Record<string, string | number>; value: number; metricName: string; exemplar?: null }[] = [];
        for (const { labels, count, sum, perBucket } of series) {
          let cumulative = 0;
          DURATION_BUCKETS.forEach((le, i) => {
            cumulative += perBucket[i]!;
            values.push({ labels: { le, ...labels }, value: cumulative, metricName: `${name}_bucket`, exemplar: null });
          });
          values.push({ labels: { le: '+Inf', ...labels }, value: count, metricName: `${name}_bucket`, exemplar: null });
          values.push({ labels, value: sum, metricName: `${name}_sum` });
          values.push({ labels, value: count, metricName: `${name}_count` });
        }
        return { name, help, type: 'histogram', aggregator: 'sum', values };
      },
      // registry.resetMetrics(); the counter reads the same series.
      reset() {
        series.length = 0;
        byRoute.clear();
      },
    };
    // The registry uses a metric's name, get() and reset(); its parameter type names only its own classes.
    registry.registerMetric(duration as unknown as Metric);
  }

  /** The entries by route, then method, then status: lookups by strings the router already holds, no key built per request. */
  private readonly byRoute = new Map<string, Map<string, Map<number, HttpSeriesEntry>>>();

  observe(method: string, route: string, status: number, seconds: number): void {
    let byMethod = this.byRoute.get(route);
    if (!byMethod) this.byRoute.set(route, (byMethod = new Map()));
    let byStatus = byMethod.get(method);
    if (!byStatus) byMethod.set(method, (byStatus = new Map()));
    let entry = byStatus.get(status);
    if (!entry) {
      entry = { labels: { method, route, status_code: String(status) }, count: 0, sum: 0, perBucket: DURATION_BUCKETS.map(() => 0) };
      this.series.push(entry);
      byStatus.set(status, entry);
    }
    entry.count++;
    entry.sum += seconds;
    // `le` is inclusive, as in prom-client's Histogram.
    for (let i = 0; i < DURATION_BUCKETS.length; i++) {
      if (seconds <= DURATION_BUCKETS[i]!) {
        entry.perBucket[i]!++;
        break;
      }
    }
  }
}

function sameSecret(given: string, expected: string): boolean {
  // Hash first so the comparison is constant-time whatever the lengths.
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

function bearer(header: string | undefined): string {
  const match = /^Bearer\s+(.+)$/i.exec(header ?? '');
  return match?.[1]?.trim() ?? '';
}

/**
 * Prometheus metrics: process, HTTP by route template and status, pool configuration.
 * Not public by default. METRICS_PORT serves them on a separate listener (see
 * startMetricsServer, wired in boot.ts); otherwise METRICS_TOKEN serves them on the main
 * port behind `Authorization: Bearer <token>`; with neither, /metrics does not exist.
 */
export default fp<{ config: Config }>(
  async (app, { config }) => {
    const registry = new Registry();
    collectDefaultMetrics({ register: registry });
    app.decorate('metrics', registry);

    const http = new HttpSeries(registry);
    // Requests being handled: a plain number, read when scraped.
    let inFlight = 0;
    new Gauge({
      name: 'http_requests_in_flight',
      help: 'HTTP requests being handled',
      registers: [registry],
      collect() {
        this.set(inFlight);
      },
    });

    // postgres.js exposes no live pool counters (open/idle/waiting); the configured sizes
    // are what a task can hold. Live connections: RDS DatabaseConnections or pg_stat_activity
    // grouped by application_name = 'offbase'.
    const poolMax = new Gauge({ name: 'db_pool_max_connections', help: 'Configured pool size (DB_POOL_MAX)', labelNames: ['pool'], registers: [registry] });
    poolMax.set({ pool: 'primary' }, config.db.poolMax);
    if (app.database.readDb !== app.database.db) poolMax.set({ pool: 'replica' }, config.db.poolMax);
    // DB_PREPARED_STATEMENTS_MAX at work (db/client.ts, StatementAdmission): how many distinct
    // statements each pool has admitted, and how many it sent unprepared past the bound.
    const pools = Object.entries(app.database.statements).filter((e): e is [string, StatementAdmission] => e[1] !== null);
    new Gauge({
      name: 'db_prepared_statements',
      help: 'Distinct statements the pool prepares (each connection at most this many; bound: DB_PREPARED_STATEMENTS_MAX)',
      labelNames: ['pool'],
      registers: [registry],
      collect() {
        for (const [pool, admission] of pools) this.set({ pool }, admission.admitted);
      },
    });
    new Counter({
      name: 'db_unprepared_statements_total',
      help: 'Statements sent unprepared because DB_PREPARED_STATEMENTS_MAX was reached',
      labelNames: ['pool'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [pool, admission] of pools) this.inc({ pool }, admission.refused);
      },
    });

    // Callback hooks: no promise per request.
    app.addHook('onRequest', (_request, _reply, done) => {
      inFlight++;
      done();
    });
    app.addHook('onResponse', (request, reply, done) => {
      inFlight--;
      // Route templates only (/documents/:id), never raw paths: bounded label cardinality.
      http.observe(request.method, request.routeOptions.url ?? 'unmatched', reply.statusCode, reply.elapsedTime / 1000);
      done();
    });

    if (config.metrics.port === null && config.metrics.token !== null) {
      const token = config.metrics.token;
      app.get(
        '/metrics',
        { schema: { hide: true, response: { 200: Type.String() } }, logLevel: 'warn' },
        async (request, reply) => {
          if (!sameSecret(bearer(request.headers.authorization), token)) throw new AppError('unauthorized');
          return reply.type(registry.contentType).send(await registry.metrics());
        },
      );
    }
  },
  { name: 'metrics', dependencies: ['database'] },
);

/** The separate METRICS_PORT listener: GET /metrics only (and the token, if one is set). */
export async function startMetricsServer(app: FastifyInstance, config: Config): Promise<Server & { port: number }> {
  const server = createServer((req, res) => {
    void (async () => {
      const url = (req.url ?? '').split('?')[0];
      if (req.method !== 'GET' || url !== '/metrics') {
        res.writeHead(404).end();
        return;
      }
      if (config.metrics.token !== null && !sameSecret(bearer(req.headers.authorization), config.metrics.token)) {
        res.writeHead(401).end();
        return;
      }
      const body = await app.metrics.metrics();
      res.writeHead(200, { 'content-type': app.metrics.contentType }).end(body);
    })().catch((err: unknown) => {
      app.log.error({ err }, 'metrics scrape failed');
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.metrics.port ?? 0, config.host, () => resolve());
  });
  return Object.assign(server, { port: (server.address() as AddressInfo).port });
}
