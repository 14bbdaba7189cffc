import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { ownPostgres, type OwnServer } from '../helpers/own-postgres.js';
import { createUserWithToken, type TestUser } from '../helpers/users.js';

// PostgreSQL goes away for a few seconds while a client keeps creating documents. The API
// must answer 503 service_unavailable (never 500, never hang), report not-ready, recover by
// itself, and every create it acknowledged must be in the database exactly once.

const HANG_MS = 10_000; // DB_CONNECT_TIMEOUT_S=2 plus a wide margin: anything slower is a hang
let server: OwnServer;
let t: TestApp;
let user: TestUser;

beforeAll(async () => {
  const own = await ownPostgres('offbase_fault_restart');
  server = own.server;
  t = await buildTestApp({ DB_CONNECT_TIMEOUT_S: '2', DB_POOL_MAX: '4' }, { testDb: own.testDb });
  user = await createUserWithToken(t.app);
}, 120_000);
afterAll(async () => {
  await t?.close();
  await server?.stop();
});

interface Outcome {
  key: string;
  status: number;
  code?: string;
  ms: number;
  phase: 'before' | 'outage' | 'after';
}

describe('database restart under write load', () => {
  it('answers 503 during the outage, recovers within 5 s, and loses or doubles no acknowledged write', async () => {
    let phase: Outcome['phase'] = 'before';
    let running = true;
    const outcomes: Outcome[] = [];

    const create = async (): Promise<Outcome> => {
      const key = `fault/${randomUUID()}`;
      const started = Date.now();
      const at = phase;
      const res = await Promise.race([
        t.app.inject({ method: 'POST', url: '/api/v1/documents', headers: user.headers, payload: { title: 'Fault test', s3_bucket: 'faults', s3_key: key } }),
        new Promise<null>((r) => setTimeout(() => r(null), HANG_MS)),
      ]);
      if (!res) return { key, status: 0, ms: Date.now() - started, phase: at };
      const code = res.statusCode >= 400 ? (res.json() as { code: string }).code : undefined;
      return { key, status: res.statusCode, code, ms: Date.now() - started, phase: at };
    };
    // Four clients, each creating back to back (with a breath while the API answers 503s).
    const writers = Array.from({ length: 4 }, async () => {
      while (running) {
        const o = await create();
        outcomes.push(o);
        if (o.status !== 201) await new Promise((r) => setTimeout(r, 50));
      }
    });

    await new Promise((r) => setTimeout(r, 1500));
    phase = 'outage';
    await server.pg.stop();
    await new Promise((r) => setTimeout(r, 500));
    const ready = await t.app.inject({ method: 'GET', url: '/health/ready' });
    expect(ready.statusCode).toBe(503);
    await new Promise((r) => setTimeout(r, 2500));

    await server.pg.start();
    const restartedAt = Date.now();
    phase = 'after';
    let recoveredMs = -1;
    while (Date.now() - restartedAt < 5000) {
      const o = await create();
      outcomes.push(o);
      if (o.status === 201) {
        recoveredMs = Date.now() - restartedAt;
        break;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    await new Promise((r) => setTimeout(r, 1000));
    running = false;
    await Promise.all(writers);

    const summary = JSON.stringify(outcomes.reduce<Record<string, number>>((acc, o) => ({ ...acc, [`${o.phase}:${o.status}`]: (acc[`${o.phase}:${o.status}`] ?? 0) + 1 }), {}));
    // The API recovered by itself, and the outage was really seen by the client.
    expect(recoveredMs, summary).toBeGreaterThanOrEqual(0);
    expect((await t.app.inject({ method: 'GET', url: '/health/ready' })).statusCode).toBe(200);
    expect(outcomes.filter((o) => o.phase === 'outage' && o.status === 503).length, summary).toBeGreaterThan(0);
    expect(outcomes.filter((o) => o.phase === 'before' && o.status === 201).length, summary).toBeGreaterThan(0);
    // Only 201 or 503 service_unavailable, and nothing hung.
    const odd = outcomes.filter((o) => !(o.status === 201 || (o.status === 503 && o.code === 'service_unavailable')));
    expect(odd, summary).toEqual([]);

    // Every acknowledged create is stored exactly once, with exactly one audit row.
    const acked = outcomes.filter((o) => o.status === 201).map((o) => o.key);
    const rows = await t.testDb.sql<{ s3_key: string; n: number; audits: number }[]>`
      select d.s3_key, count(*)::int as n,
             sum((select count(*) from audit_logs a where a.entity_id = d.id::text and a.action = 'document.create'))::int as audits
      from documents d where d.owner_id = ${user.id} and d.s3_bucket = 'faults' group by d.s3_key`;
    const stored = new Map(rows.map((r) => [r.s3_key, r]));
    const missing = acked.filter((k) => !stored.has(k));
    expect(missing, summary).toEqual([]);
    expect(rows.filter((r) => r.n !== 1 || r.audits !== 1)).toEqual([]);
  }, 60_000);
});
