import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../../../helpers/app.js';
import { createUserWithToken, type TestUser } from '../../../helpers/users.js';
import { ANON_KEY } from '../helpers.js';

// Every distinct select=, filter and order a /rest/v1 client sends is a new statement text.
// With the anon key alone a client can send ever new ones (an or=(...) one term longer each
// time); prepared,
// each would stay on every pooled connection until DB_MAX_LIFETIME_S recycles it, ~100 KB of
// PostgreSQL memory apiece. DB_PREPARED_STATEMENTS_MAX bounds what a connection prepares; past
// it the statements are still answered, unprepared, and the metrics say so.

const BOUND = 12;
const METRICS_TOKEN = 'metrics-token-prepared-bound-0123456789';
let t: TestApp;
let alice: TestUser;

beforeAll(async () => {
  // One connection, so the statements the test lists are the ones every request ran on.
  t = await buildTestApp({ OFFBASE_ANON_KEY: ANON_KEY, RATE_LIMIT_ENABLED: 'false', DB_POOL_MAX: '1', DB_PREPARED_STATEMENTS_MAX: String(BOUND), METRICS_TOKEN });
  alice = await createUserWithToken(t.app);
  const created = await t.app.inject({ method: 'POST', url: '/api/v1/documents', headers: alice.headers, payload: { title: 'Mine', s3_bucket: 'b', s3_key: `k/${randomUUID()}` } });
  expect(created.statusCode).toBe(201);
});
afterAll(async () => {
  await t?.close();
});

describe('/rest/v1 against the prepared-statement bound', () => {
  it('answers every new query shape while the connection keeps at most DB_PREPARED_STATEMENTS_MAX statements', async () => {
    for (let n = 0; n < 4 * BOUND; n++) {
      // n + 1 alternatives: a statement text of its own each time.
      const or = Array.from({ length: n + 1 }, (_, k) => `title.eq.other${k}`).join(',');
      const res = await t.app.inject({ method: 'GET', url: `/rest/v1/documents?select=title&or=(title.eq.Mine,${or})`, headers: { apikey: ANON_KEY, ...alice.headers } });
      expect(res.statusCode, res.body).toBe(200);
      expect(res.json()).toEqual([{ title: 'Mine' }]);
    }
    const statements = (await t.database.db.execute<{ statement: string }>(sql`select statement from pg_prepared_statements`)).map((r) => r.statement);
    // The bound, plus postgres.js's own type lookup at connect (not sent through drizzle).
    expect(statements.length).toBeLessThanOrEqual(BOUND + 1);

    const metrics = (await t.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).body;
    expect(metrics).toContain(`db_prepared_statements{pool="primary"} ${BOUND}`);
    const refused = Number(/^db_unprepared_statements_total\{pool="primary"\} (\d+)$/m.exec(metrics)?.[1]);
    expect(refused).toBeGreaterThanOrEqual(3 * BOUND - 2);
  });
});
