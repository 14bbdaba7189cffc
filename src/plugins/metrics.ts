import { timingSafeEqual, createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Config } from '../config.js';
import { AppError } from '../errors/app-error.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** This app's Prometheus registry (one per app, so tests can build many apps). */
    metrics: Registry;
  }
}

// Buckets around what an API like this answers in: 5 ms to 10 s.
const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

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

    const labelNames = ['method', 'route', 'status_code'] as const;
    const requests = new Counter({ name: 'http_requests_total', help: 'HTTP requests completed', labelNames, registers: [registry] });
    const duration = new Histogram({
      name: 'http_request_duration_seconds',
      help: 'HTTP request duration until the response was sent',
      labelNames,
      buckets: DURATION_BUCKETS,
      registers: [registry],
    });
    const inFlight = new Gauge({ name: 'http_requests_in_flight', help: 'HTTP requests being handled', registers: [registry] });

    // postgres.js exposes no live pool counters (open/idle/waiting); the configured sizes
    // are what a task can hold. Live connections: RDS DatabaseConnections or pg_stat_activity
    // grouped by application_name = 'offbase'.
    const poolMax = new Gauge({ name: 'db_pool_max_connections', help: 'Configured pool size (DB_POOL_MAX)', labelNames: ['pool'], registers: [registry] });
    poolMax.set({ pool: 'primary' }, config.db.poolMax);
    if (app.database.readDb !== app.database.db) poolMax.set({ pool: 'replica' }, config.db.poolMax);

    // Callback hooks (no promise per request). prom-client hashes the label values on every
    // call; one child per (method, route, status) is looked up by a string key instead.
    type Child = { requests: { inc(): void }; duration: { observe(v: number): void } };
    const children = new Map<string, Child>();
    const child = (method: string, route: string, status: number): Child => {
      const key = `${method} ${status} ${route}`;
      let found = children.get(key);
      if (!found) {
        const labels = { method, route, status_code: String(status) };
        found = { requests: requests.labels(labels), duration: duration.labels(labels) };
        children.set(key, found);
      }
      return found;
    };
    app.addHook('onRequest', (_request, _reply, done) => {
      inFlight.inc();
      done();
    });
    app.addHook('onResponse', (request, reply, done) => {
      inFlight.dec();
      // Route templates only (/documents/:id), never raw paths: bounded label cardinality.
      const c = child(request.method, request.routeOptions.url ?? 'unmatched', reply.statusCode);
      c.requests.inc();
      c.duration.observe(reply.elapsedTime / 1000);
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
