import { createHmac, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { users } from '../src/db/schema/index.js';
import { buildTestApp, type TestApp } from './helpers/app.js';
import { createUserWithToken } from './helpers/users.js';

// Cut-over: access tokens of the old Supabase project keep working when SUPABASE_JWT_SECRET is set.

const SUPABASE_SECRET = 'super-secret-jwt-token-with-at-least-32-characters-long';

function sign(payload: Record<string, unknown>, secret = SUPABASE_SECRET, header: Record<string, unknown> = { alg: 'HS256', typ: 'JWT' }) {
  const enc = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const body = `${enc(header)}.${enc(payload)}`;
  return `${body}.${createHmac('sha256', secret).update(body).digest('base64url')}`;
}

const now = () => Math.floor(Date.now() / 1000);
const claims = (sub: string, extra: Record<string, unknown> = {}) => ({
  aud: 'authenticated',
  exp: now() + 3600,
  iat: now(),
  iss: 'https://abcdefgh.supabase.co/auth/v1',
  sub,
  email: 'whoever@example.com',
  role: 'authenticated',
  session_id: randomUUID(),
  ...extra,
});

// A protected route: the same preHandler every feature uses.
const extend = (app: TestApp['app']) => {
  app.get('/test/me', { preHandler: app.authenticate }, async (req) => ({ sub: req.user.sub, role: req.user.role, email: req.user.email }));
};

let on: TestApp;
let off: TestApp;
let userId: string;
let adminId: string;
let disabledId: string;

beforeAll(async () => {
  on = await buildTestApp({ SUPABASE_JWT_SECRET: SUPABASE_SECRET }, { extend });
  off = await buildTestApp({}, { extend, testDb: on.testDb });
  const rows = await on.app.db
    .insert(users)
    .values([
      { email: 'imported@example.com' },
      { email: 'boss@example.com', role: 'admin' },
      { email: 'banned@example.com', disabled_at: new Date().toISOString() },
    ])
    .returning({ id: users.id });
  [userId, adminId, disabledId] = rows.map((r) => r.id) as [string, string, string];
});
afterAll(async () => {
  await off?.close();
  await on?.close();
});

const me = (t: TestApp, token: string) => t.app.inject({ method: 'GET', url: '/test/me', headers: { authorization: `Bearer ${token}` } });

describe('Supabase access tokens during cut-over', () => {
  it('accepts a live token of an imported user, with the role and email from offbase', async () => {
    const res = await me(on, sign(claims(userId)));
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ sub: userId, role: 'user', email: 'imported@example.com' });
    const admin = await me(on, sign(claims(adminId, { role: 'authenticated', app_metadata: { role: 'user' } })));
    expect(admin.json()).toMatchObject({ sub: adminId, role: 'admin' });
    // aud may be an array.
    expect((await me(on, sign(claims(userId, { aud: ['authenticated'] })))).statusCode).toBe(200);
  });

  it('refuses expired, not-yet-valid, mis-signed, wrong-audience, anon/service keys, alg none, disabled and unknown users', async () => {
    const bad = [
      sign(claims(userId, { exp: now() - 1 })),
      sign(claims(userId, { nbf: now() + 600 })),
      sign(claims(userId), 'another-secret-that-is-also-long-enough-000'),
      sign(claims(userId, { aud: 'something-else' })),
      sign({ iss: 'supabase', ref: 'abcdefgh', role: 'anon', iat: now(), exp: now() + 10 * 365 * 86400 }),
      sign({ iss: 'supabase', ref: 'abcdefgh', role: 'service_role', iat: now(), exp: now() + 10 * 365 * 86400 }),
      sign(claims(userId, { role: 'service_role' })),
      sign(claims(userId), SUPABASE_SECRET, { alg: 'none', typ: 'JWT' }).split('.').slice(0, 2).join('.') + '.',
      sign(claims(userId), SUPABASE_SECRET, { alg: 'HS512', typ: 'JWT' }),
      sign(claims(userId, { exp: undefined })),
      sign(claims(disabledId)),
      sign(claims(randomUUID())),
      sign(claims('not-a-uuid')),
    ];
    for (const token of bad) {
      const res = await me(on, token);
      expect(res.statusCode).toBe(401);
      expect(res.json().code).toBe('invalid_token');
    }
  });

  it('works on the real endpoints: /me answers, logout succeeds (there is no offbase session to revoke)', async () => {
    const headers = { authorization: `Bearer ${sign(claims(userId))}` };
    const meRes = await on.app.inject({ method: 'GET', url: '/api/v1/auth/me', headers });
    expect(meRes.statusCode).toBe(200);
    expect(meRes.json()).toMatchObject({ id: userId, email: 'imported@example.com' });
    const out = await on.app.inject({ method: 'POST', url: '/api/v1/auth/logout', headers, payload: {} });
    expect(out.statusCode).toBe(204);
  });

  it('is off unless SUPABASE_JWT_SECRET is set', async () => {
    expect((await me(off, sign(claims(userId)))).statusCode).toBe(401);
  });

  it('leaves offbase tokens working', async () => {
    for (const t of [on, off]) {
      const u = await createUserWithToken(t.app);
      const res = await me(t, u.token);
      expect(res.statusCode).toBe(200);
      expect(res.json().sub).toBe(u.id);
    }
  });
});
