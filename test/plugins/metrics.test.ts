import { Counter, Histogram, Registry } from 'prom-client';
import { afterAll, describe, expect, it } from 'vitest';
import { DURATION_BUCKETS, HttpSeries } from '../../src/plugins/metrics.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { spawnServer, stopServer, waitForStatus, type ServerProcess } from '../helpers/process.js';
import { freePort } from '../setup/server.js';

const TOKEN = 'metrics-token-0123456789abcdef';
const apps: TestApp[] = [];
const procs: ServerProcess[] = [];
const dbs: TestDatabase[] = [];
afterAll(async () => {
  await Promise.all(procs.map(stopServer));
  await Promise.all(apps.map((a) => a.close()));
  await Promise.all(dbs.map((d) => d.drop()));
});

async function app(env: Record<string, string> = {}) {
  const t = await buildTestApp(env, {
    extend: (a) => void a.get('/things/:id', async (request) => ({ id: (request.params as { id: string }).id })),
  });
  apps.push(t);
  return t;
}

describe('metrics', () => {
  it('do not exist without METRICS_PORT or METRICS_TOKEN', async () => {
    const t = await app();
    const res = await t.app.inject({ method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toMatchObject({ code: 'not_found' });
  });

  it('on the main port require the bearer token', async () => {
    const t = await app({ METRICS_TOKEN: TOKEN });
    expect((await t.app.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(401);
    const wrong = await t.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${TOKEN}x` } });
    expect(wrong.statusCode).toBe(401);
    expect(wrong.json()).toMatchObject({ code: 'unauthorized' });
    const ok = await t.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${TOKEN}` } });
    expect(ok.statusCode).toBe(200);
    expect(ok.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(ok.body).not.toContain(TOKEN);
  });

  it('count requests and time them by route template and status; pool size and process metrics', async () => {
    const t = await app({ METRICS_TOKEN: TOKEN, DB_POOL_MAX: '7' });
    for (const id of ['a1', 'b2', 'c3']) await t.app.inject({ method: 'GET', url: `/things/${id}` });
    await t.app.inject({ method: 'GET', url: '/health/live' });
    await t.app.inject({ method: 'GET', url: '/no/such/path/42' });
    const body = (await t.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${TOKEN}` } })).body;

    expect(body).toContain('http_requests_total{method="GET",route="/things/:id",status_code="200"} 3');
    expect(body).toContain('http_requests_total{method="GET",route="/health/live",status_code="200"} 1');
    expect(body).toContain('http_requests_total{method="GET",route="unmatched",status_code="404"} 1');
    expect(body).toContain('http_request_duration_seconds_count{method="GET",route="/things/:id",status_code="200"} 3');
    expect(body).toMatch(/http_request_duration_seconds_bucket\{le="0\.005",method="GET",route="\/things\/:id",status_code="200"\} \d/);
    // Raw paths never become labels (unbounded cardinality).
    expect(body).not.toMatch(/a1|b2|c3|\/no\/such/);
    expect(body).toContain('db_pool_max_connections{pool="primary"} 7');
    expect(body).not.toContain('pool="replica"');
    expect(body).toMatch(/^process_cpu_user_seconds_total \d/m);
    expect(body).toMatch(/^nodejs_eventloop_lag_seconds \d/m);
    expect(body).toContain('http_requests_in_flight');
  });

  it('report the replica pool when DATABASE_READ_URL is set', async () => {
    const replica = await createTestDatabase();
    dbs.push(replica);
    const t = await app({ METRICS_TOKEN: TOKEN, DATABASE_READ_URL: replica.url });
    const body = (await t.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${TOKEN}` } })).body;
    expect(body).toContain('db_pool_max_connections{pool="replica"} 10');
  });

  it('METRICS_PORT serves them on a separate listener of the real process, not on the API port', async () => {
    const db = await createTestDatabase();
    dbs.push(db);
    const metricsPort = await freePort();
    const p = await spawnServer({ DATABASE_URL: db.url, METRICS_PORT: String(metricsPort) });
    procs.push(p);
    await waitForStatus(p, '/health/ready');
    expect((await fetch(`${p.baseUrl}/metrics`)).status).toBe(404);
    const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('http_requests_total{method="GET",route="/health/ready",status_code="200"}');
    expect((await fetch(`http://127.0.0.1:${metricsPort}/other`)).status).toBe(404);
    expect(await stopServer(p)).toBe(0);
  });

  it("write what prom-client's own Counter and Histogram write for the same requests", async () => {
    const ours = new Registry();
    const series = new HttpSeries(ours);
    const reference = new Registry();
    const labelNames = ['method', 'route', 'status_code'] as const;
    const requests = new Counter({ name: 'http_requests_total', help: 'HTTP requests completed', labelNames, registers: [reference] });
    const duration = new Histogram({ name: 'http_request_duration_seconds', help: 'HTTP request duration until the response was sent', labelNames, buckets: DURATION_BUCKETS, registers: [reference] });
    // Every bound exactly (le is inclusive), between bounds, 0, above the last bound.
    const seconds = [0, ...DURATION_BUCKETS, 0.0051, 0.3, 0.75, 3, 9.99, 10.01, 60];
    const requestsSeen: [string, string, number][] = [['GET', '/documents/:id', 200], ['GET', '/documents/:id', 404], ['POST', '/documents', 201], ['GET', 'unmatched', 404]];
    seconds.forEach((s, i) => {
      const [method, route, status] = requestsSeen[i % requestsSeen.length]!;
      series.observe(method, route, status, s);
      const labels = { method, route, status_code: String(status) };
      requests.inc(labels);
      duration.observe(labels, s);
    });
    expect(await ours.metrics()).toBe(await reference.metrics());
    // A scrape reads, it does not reset: the next one sees the same totals plus what came after.
    series.observe('GET', '/documents/:id', 200, 0.02);
    requests.inc({ method: 'GET', route: '/documents/:id', status_code: '200' });
    duration.observe({ method: 'GET', route: '/documents/:id', status_code: '200' }, 0.02);
    expect(await ours.metrics()).toBe(await reference.metrics());
    expect(await ours.getMetricsAsJSON()).toEqual(await reference.getMetricsAsJSON());
  });

  it('count the requests in flight while they are handled', async () => {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const t = await buildTestApp(
      { METRICS_TOKEN: TOKEN },
      {
        extend: (a) =>
          void a.get('/slow', async () => {
            await held;
            return { ok: true };
          }),
      },
    );
    apps.push(t);
    const scrape = async () => (await t.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${TOKEN}` } })).body;
    const inFlight = (body: string) => /^http_requests_in_flight (\d+)$/m.exec(body)?.[1];
    // The scrape itself is in flight while it is answered.
    expect(inFlight(await scrape())).toBe('1');
    const slow = [t.app.inject({ method: 'GET', url: '/slow' }), t.app.inject({ method: 'GET', url: '/slow' })];
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(inFlight(await scrape())).toBe('3');
    release();
    await Promise.all(slow);
    expect(inFlight(await scrape())).toBe('1');
  });
});
