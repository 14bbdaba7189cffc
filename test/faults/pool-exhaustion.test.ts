import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { spawnServer, stopServer, waitForStatus, type ServerProcess } from '../helpers/process.js';

// Far more concurrent slow requests than DB_POOL_MAX connections: postgres.js queues them;
// each finishes with 200 or, past the statement timeout, 503 service_unavailable. The
// process never crashes and serves normally afterwards.

let db: TestDatabase;
let p: ServerProcess;

beforeAll(async () => {
  db = await createTestDatabase();
  p = await spawnServer({ DATABASE_URL: db.url, DB_POOL_MAX: '2', DB_STATEMENT_TIMEOUT_MS: '500' }, 'test/fixtures/slow-server.ts');
  await waitForStatus(p, '/health/ready');
}, 120_000);
afterAll(async () => {
  if (p) await stopServer(p);
  await db?.drop();
});

async function get(path: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(p.baseUrl + path, { signal: AbortSignal.timeout(30_000) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe('pool exhaustion', () => {
  it('queues 30 slow requests on 2 connections: each ends 200 or 503, the process stays up', async () => {
    const slow = [
      ...Array.from({ length: 10 }, () => get('/__test/slow?ms=2000')), // beyond the statement timeout
      ...Array.from({ length: 20 }, () => get('/__test/slow?ms=100')),
    ];
    // While the pool is saturated, the event loop still answers liveness.
    await new Promise((r) => setTimeout(r, 200));
    expect((await get('/health/live')).status).toBe(200);

    const results = await Promise.all(slow);
    for (const r of results.slice(0, 10)) {
      expect(r.status).toBe(503);
      expect(r.body.code).toBe('service_unavailable');
    }
    for (const r of results.slice(10)) expect([200, 503]).toContain(r.status);
    expect(results.slice(10).filter((r) => r.status === 200).length).toBeGreaterThan(0);
    expect(results.every((r) => r.status !== 500)).toBe(true);

    expect(p.child.exitCode).toBeNull();
    expect((await get('/health/ready')).status).toBe(200);
    expect((await get('/__test/slow?ms=10')).status).toBe(200);
    expect(p.output()).not.toContain('unhandled error');
  }, 60_000);
});
