import { afterAll, describe, expect, it } from 'vitest';
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
});
