import { Type } from '@sinclair/typebox';
import type { Sql } from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { createDatabase } from '../../src/db/client.js';
import { AppError } from '../../src/errors/app-error.js';
import { toGoTrueError } from '../../src/features/compat/auth/errors.js';
import { toPostgrestError } from '../../src/features/compat/rest/errors.js';
import { createLogger } from '../../src/logger.js';
import { buildTestApp, testEnv, type TestApp } from '../helpers/app.js';
import { freePort } from '../setup/server.js';
import { createUserWithToken } from '../helpers/users.js';

let t: TestApp;

/**
 * A real deadlock: two transactions take advisory locks `key` and `key + 1` in opposite orders,
 * and PostgreSQL aborts one of them (40P01) after deadlock_timeout. Its error.
 */
async function deadlock(sql: Sql, key: number): Promise<Error & { code?: string }> {
  const take = (first: number, second: number) =>
    sql.begin(async (tx) => {
      await tx`select pg_advisory_xact_lock(${first})`;
      await tx`select pg_sleep(0.2)`;
      await tx`select pg_advisory_xact_lock(${second})`;
    });
  const settled = await Promise.allSettled([take(key, key + 1), take(key + 1, key)]);
  const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (!failed) throw new Error('no deadlock: both transactions committed');
  return failed.reason;
}

beforeAll(async () => {
  t = await buildTestApp({ BODY_LIMIT_BYTES: '2048' }, {
    extend(app) {
      app.post('/__test/echo', { schema: { body: Type.Object({ name: Type.String({ minLength: 2 }), age: Type.Optional(Type.Integer()) }, { additionalProperties: false }) } }, async (req) => req.body);
      app.get('/__test/boom', async () => {
        throw new Error('relation "secret_table" does not exist at SELECT password_hash FROM users');
      });
      app.get('/__test/sql', async () => app.database.sql`select * from no_such_table`);
      app.get('/__test/conflict', async () => {
        throw new AppError('conflict');
      });
      app.get('/__test/deadlock', async () => {
        throw await deadlock(app.database.sql, 914_001);
      });
      app.post('/__test/log-body', async (req) => {
        req.log.info({ body: req.body }, 'handler logged its body');
        return { ok: true };
      });
    },
  });
});
afterAll(() => t.close());

const shape = (body: Record<string, unknown>) => {
  expect(Object.keys(body).sort()).toEqual(expect.arrayContaining(['code', 'message', 'request_id']));
  expect(typeof body.message).toBe('string');
};

describe('one error shape', () => {
  it('400 invalid_json for malformed JSON', async () => {
    const res = await t.app.inject({ method: 'POST', url: '/__test/echo', headers: { 'content-type': 'application/json' }, payload: '{"name": "x", ' });
    expect(res.statusCode).toBe(400);
    shape(res.json());
    expect(res.json().code).toBe('invalid_json');
  });

  it('400 validation_failed with field details', async () => {
    const res = await t.app.inject({ method: 'POST', url: '/__test/echo', payload: { name: 'x' } });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ code: 'validation_failed', details: [{ field: 'body.name' }] });
    const extra = await t.app.inject({ method: 'POST', url: '/__test/echo', payload: { name: 'xy', owner_id: 'z' } });
    expect(extra.json()).toMatchObject({ code: 'validation_failed', details: [{ field: 'body.owner_id', message: 'is not an allowed field' }] });
  });

  it('400, not a 500, for a number too large for a double (Infinity after parsing) in a query string, a path or a body', async () => {
    const user = await createUserWithToken(t.app);
    const admin = await createUserWithToken(t.app, { role: 'admin' });
    // Ajv coerces "1e309" to Infinity and lets it through `integer` and `maximum`: the page
    // limits then reached the SQL (a 500 from the audit trail's and the admin list's, found by the fuzzer).
    for (const [url, who] of [
      ['/api/v1/audit-logs?limit=1e309', user],
      ['/api/v1/documents?limit=-1e309', user],
      ['/api/v1/documents?limit=Infinity', user],
      ['/api/v1/admin/users?limit=1e309', admin],
    ] as const) {
      const res = await t.app.inject({ method: 'GET', url, headers: who.headers });
      expect(res.statusCode, url).toBe(400);
      expect(res.json(), url).toMatchObject({ code: 'validation_failed', details: [{ field: 'querystring.limit', message: 'must be a finite number' }] });
    }
    // The same text where it is text: a search for it is a search.
    expect((await t.app.inject({ method: 'GET', url: '/api/v1/documents/search?q=1e309', headers: user.headers })).statusCode).toBe(200);
    const body = await t.app.inject({ method: 'POST', url: '/__test/echo', headers: { 'content-type': 'application/json' }, payload: '{"name":"xy","age":1e309}' });
    expect(body.statusCode).toBe(400);
    expect(body.json()).toMatchObject({ code: 'validation_failed', details: [{ field: 'body.age' }] });
  });

  it('404 not_found for an unknown route', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/nope?token=abc' });
    expect(res.statusCode).toBe(404);
    shape(res.json());
    expect(res.json().code).toBe('not_found');
  });

  it('413 payload_too_large over the body limit', async () => {
    const res = await t.app.inject({ method: 'POST', url: '/__test/echo', payload: { name: 'x'.repeat(4096) } });
    expect(res.statusCode).toBe(413);
    expect(res.json().code).toBe('payload_too_large');
  });

  it('415 unsupported_media_type for a body that is not JSON', async () => {
    const res = await t.app.inject({ method: 'POST', url: '/__test/echo', headers: { 'content-type': 'text/csv' }, payload: 'a,b' });
    expect(res.statusCode).toBe(415);
    expect(res.json().code).toBe('unsupported_media_type');
  });

  it('app errors keep their code', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/__test/conflict' });
    expect(res.statusCode).toBe(409);
    expect(res.json().code).toBe('conflict');
  });

  it('409 conflict, not a 500, when PostgreSQL aborts the transaction for a deadlock or a serialization failure', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/__test/deadlock' });
    expect(res.statusCode).toBe(409);
    expect(res.json().code).toBe('conflict');
    expect(res.json().message).toMatch(/send it again/);
    expect(res.body).not.toMatch(/deadlock|advisory|40P01/i);
  });

  it('the compat surfaces answer the same deadlock with a 409 in their own shape, without PostgreSQL\'s detail', async () => {
    const err = await deadlock(t.app.database.sql, 914_011);
    expect(err.code).toBe('40P01');
    const rest = toPostgrestError(err);
    expect(rest).toMatchObject({ statusCode: 409, code: '40P01', message: 'deadlock detected', details: null });
    expect(toGoTrueError(err)).toMatchObject({ statusCode: 409, errorCode: 'conflict' });
  });

  it('500 internal_error leaks no message, SQL or stack; the log has the detail', async () => {
    for (const url of ['/__test/boom', '/__test/sql']) {
      const res = await t.app.inject({ method: 'GET', url });
      expect(res.statusCode).toBe(500);
      const body = res.json();
      expect(body).toEqual({ code: 'internal_error', message: 'An unexpected error occurred.', request_id: res.headers['x-request-id'] });
      expect(res.body).not.toMatch(/secret_table|no_such_table|password_hash|at |\.ts/);
      expect(t.logs.join('\n')).toContain(body.request_id);
    }
    expect(t.logs.join('\n')).toContain('no_such_table');
  });

  it('503 service_unavailable with Retry-After when the database is unreachable', async () => {
    const port = await freePort();
    const config = loadConfig(testEnv(`postgres://postgres@127.0.0.1:${port}/nothing`, { DB_CONNECT_TIMEOUT_S: '2' }));
    const database = await createDatabase(config.db, config.db.url!);
    const app = await buildApp(config, { database }, { logger: createLogger({ logLevel: 'silent' }) });
    app.get('/__test/query', async () => database.sql`select 1`);
    try {
      const res = await app.inject({ method: 'GET', url: '/__test/query' });
      expect(res.statusCode).toBe(503);
      expect(res.headers['retry-after']).toBeDefined();
      expect(res.json().code).toBe('service_unavailable');
      const ready = await app.inject({ method: 'GET', url: '/health/ready' });
      expect(ready.statusCode).toBe(503);
      expect(ready.json()).toEqual({ status: 'error', database: 'down' });
    } finally {
      await app.close();
      await database.close();
    }
  });
});

describe('request ids and logs', () => {
  it('honours a sane X-Request-Id and replaces an insane one', async () => {
    const ok = await t.app.inject({ method: 'GET', url: '/health/live', headers: { 'x-request-id': 'abc-123' } });
    expect(ok.headers['x-request-id']).toBe('abc-123');
    const bad = await t.app.inject({ method: 'GET', url: '/nope', headers: { 'x-request-id': 'no spaces\nor newlines' } });
    expect(bad.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(bad.json().request_id).toBe(bad.headers['x-request-id']);
  });

  it('logs one line per request with id, route, status and duration', async () => {
    await t.app.inject({ method: 'POST', url: '/__test/echo', payload: { name: 'abc' }, headers: { 'x-request-id': 'line-check' } });
    const lines = t.logs.map((l) => JSON.parse(l)).filter((l) => l.request_id === 'line-check' && l.msg === 'request completed');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ route: '/__test/echo', status: 200, method: 'POST' });
    expect(typeof lines[0].duration_ms).toBe('number');
  });

  it('redacts authorization, cookies and secret fields', async () => {
    await t.app.inject({
      method: 'POST',
      url: '/__test/log-body?access_token=qs-secret-1',
      headers: { authorization: 'Bearer hdr-secret-2', cookie: 'sid=cookie-secret-3' },
      payload: { password: 'pw-secret-4', nested: { refresh_token: 'rt-secret-5' }, token: 'tk-secret-6' },
    });
    const all = t.logs.join('\n');
    expect(all).toContain('handler logged its body');
    for (const s of ['qs-secret-1', 'hdr-secret-2', 'cookie-secret-3', 'pw-secret-4', 'rt-secret-5', 'tk-secret-6']) expect(all).not.toContain(s);
  });
});

describe('HTTP hygiene', () => {
  it('serves OpenAPI 3 and the docs UI', async () => {
    const spec = await t.app.inject({ method: 'GET', url: '/openapi.json' });
    expect(spec.statusCode).toBe(200);
    expect(spec.json().openapi).toMatch(/^3\./);
    expect(spec.json().paths['/health/ready']).toBeDefined();
    const docs = await t.app.inject({ method: 'GET', url: '/docs/' });
    expect(docs.statusCode).toBe(200);
    expect(docs.headers['content-type']).toContain('text/html');
  });

  it('sets security headers', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/health/live' });
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['strict-transport-security']).toBeDefined();
  });

  it('allows only allowlisted CORS origins, never a wildcard', async () => {
    const c = await buildTestApp({ CORS_ORIGINS: 'https://app.example' });
    try {
      const allowed = await c.app.inject({ method: 'OPTIONS', url: '/health/live', headers: { origin: 'https://app.example', 'access-control-request-method': 'GET' } });
      expect(allowed.headers['access-control-allow-origin']).toBe('https://app.example');
      expect(allowed.headers['access-control-allow-credentials']).toBe('true');
      // PostgREST's header paging: hand-written PostgREST clients send Range-Unit with Range.
      const paging = await c.app.inject({ method: 'OPTIONS', url: '/rest/v1/documents', headers: { origin: 'https://app.example', 'access-control-request-method': 'GET', 'access-control-request-headers': 'range, range-unit' } });
      const allowedHeaders = String(paging.headers['access-control-allow-headers']).split(',').map((h) => h.trim().toLowerCase());
      expect(allowedHeaders).toEqual(expect.arrayContaining(['range', 'range-unit']));
      const denied = await c.app.inject({ method: 'GET', url: '/health/live', headers: { origin: 'https://evil.example' } });
      expect(denied.headers['access-control-allow-origin']).toBeUndefined();
    } finally {
      await c.close();
    }
  });
});
