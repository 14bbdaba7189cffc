import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { createUserWithToken, type TestUser } from '../helpers/users.js';

// REQUEST_TIMEOUT_MS bounds what the database deadline cannot: here, waiting for a pooled
// connection while the only one is busy. Each surface answers 503 in its own shape with
// Retry-After at the request deadline, and the API serves normally once the pool frees up.

const ANON_KEY = 'deadline-test-anon-key-0123456789';
const REQUEST_TIMEOUT_MS = 1000;
let t: TestApp;
let user: TestUser;

beforeAll(async () => {
  t = await buildTestApp({ OFFBASE_ANON_KEY: ANON_KEY, DB_POOL_MAX: '1', REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS) });
  user = await createUserWithToken(t.app);
});
afterAll(() => t?.close());

describe('the per-request deadline', () => {
  it('answers 503 with Retry-After in each surface shape while the pool queue does not move', async () => {
    // Hold the pool's only connection for 3 s (well inside the statement timeout).
    const holder = t.database.sql`select pg_sleep(3)`.execute();
    await new Promise((r) => setTimeout(r, 100));
    const headers = { ...user.headers, apikey: ANON_KEY };
    const started = Date.now();
    const [own, gotrue, postgrest] = await Promise.all([
      t.app.inject({ method: 'GET', url: '/api/v1/documents', headers }),
      t.app.inject({ method: 'GET', url: '/auth/v1/user', headers }),
      t.app.inject({ method: 'GET', url: '/rest/v1/documents?select=id', headers }),
    ]);
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(REQUEST_TIMEOUT_MS - 50);
    expect(elapsed).toBeLessThan(REQUEST_TIMEOUT_MS + 1000);
    for (const res of [own!, gotrue!, postgrest!]) {
      expect(res.statusCode, res.body).toBe(503);
      expect(res.headers['retry-after']).toBe('5');
    }
    expect(own!.json()).toEqual({ code: 'service_unavailable', message: expect.any(String), request_id: own!.headers['x-request-id'] });
    expect(gotrue!.json()).toEqual({ code: 503, error_code: 'unexpected_failure', msg: expect.any(String) });
    expect(postgrest!.json()).toEqual({ code: 'PGRST001', message: expect.any(String), details: null, hint: null });
    expect(t.logs.join('\n')).not.toContain('unhandled error');

    await holder;
    expect((await t.app.inject({ method: 'GET', url: '/api/v1/documents', headers })).statusCode).toBe(200);
  });
});
