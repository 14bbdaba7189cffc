import { createHmac, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { users } from '../../../../src/db/schema/index.js';
import { buildTestApp, type TestApp } from '../../../helpers/app.js';
import { mailbox, randomIp, registerUser, tokenFromMail } from '../../../helpers/auth.js';
import { createUserWithToken } from '../../../helpers/users.js';

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
      // Without iat a token cannot be placed before or after a revocation.
      sign(claims(userId, { iat: undefined })),
      sign(claims(userId, { iat: now() + 3600 })),
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

  it('works on the real endpoints: /me answers, logout succeeds and ends the token', async () => {
    const [leaver] = await on.app.db.insert(users).values({ email: 'leaver@example.com' }).returning({ id: users.id });
    const headers = { authorization: `Bearer ${sign(claims(leaver!.id))}` };
    const meRes = await on.app.inject({ method: 'GET', url: '/api/v1/auth/me', headers });
    expect(meRes.statusCode).toBe(200);
    expect(meRes.json()).toMatchObject({ id: leaver!.id, email: 'leaver@example.com' });
    const out = await on.app.inject({ method: 'POST', url: '/api/v1/auth/logout', headers, payload: {} });
    expect(out.statusCode).toBe(204);
    expect((await on.app.inject({ method: 'GET', url: '/api/v1/auth/me', headers })).json().code).toBe('invalid_token');
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

describe('revocation of Supabase tokens', () => {
  const api = (method: 'GET' | 'PATCH' | 'POST', url: string, token: string, payload?: object) =>
    on.app.inject({ method, url: `/api/v1/auth${url}`, remoteAddress: randomIp(), headers: { authorization: `Bearer ${token}` }, ...(payload ? { payload } : {}) });

  /** Refused everywhere /api/v1 takes a Bearer token, including the routes that change the account. */
  async function expectRefused(token: string) {
    for (const res of [
      await me(on, token),
      await api('GET', '/me', token),
      await api('PATCH', '/me', token, { full_name: 'Taken Over' }),
      await api('POST', '/password/change', token, { current_password: 'correct-horse-battery-staple-42', new_password: 'attacker-chosen-passphrase-1' }),
    ]) {
      expect(res.statusCode, res.body).toBe(401);
      expect(res.json().code).toBe('invalid_token');
    }
  }

  /** A registered user (with an offbase session) who also holds a token of the old Supabase project. */
  async function holder() {
    const u = await registerUser(on.app);
    const token = sign(claims(u.id));
    expect((await me(on, token)).statusCode).toBe(200);
    return { u, token };
  }

  it('global logout ends them', async () => {
    const { u, token } = await holder();
    expect((await api('POST', '/logout', u.accessToken, { scope: 'global' })).statusCode).toBe(204);
    await expectRefused(token);
  });

  it('logout of the other sessions ends them', async () => {
    const { u, token } = await holder();
    expect((await api('POST', '/logout', u.accessToken, { scope: 'others' })).statusCode).toBe(204);
    await expectRefused(token);
    expect((await api('GET', '/me', u.accessToken)).statusCode).toBe(200);
  });

  it('a local logout with the Supabase token ends it; the offbase session lives on', async () => {
    const { u, token } = await holder();
    expect((await api('POST', '/logout', token, {})).statusCode).toBe(204);
    await expectRefused(token);
    expect((await api('GET', '/me', u.accessToken)).statusCode).toBe(200);
  });

  it('a password change ends them', async () => {
    const { u, token } = await holder();
    const res = await api('POST', '/password/change', u.accessToken, { current_password: u.password, new_password: 'a-brand-new-passphrase-99' });
    expect(res.statusCode).toBe(204);
    await expectRefused(token);
  });

  it('a password reset ends them', async () => {
    const { u, token } = await holder();
    await on.app.inject({ method: 'POST', url: '/api/v1/auth/password/forgot', remoteAddress: randomIp(), payload: { email: u.email } });
    expect(mailbox(on.app).some((m) => m.to === u.email)).toBe(true);
    const reset = await on.app.inject({
      method: 'POST',
      url: '/api/v1/auth/password/reset',
      remoteAddress: randomIp(),
      payload: { token: tokenFromMail(on.app, u.email, 'reset-password'), new_password: 'reset-to-this-passphrase-1' },
    });
    expect(reset.statusCode).toBe(204);
    await expectRefused(token);
  });

  it('disabling ends them for good: enabling the user again does not revive them', async () => {
    const { u, token } = await holder();
    const admin = await createUserWithToken(on.app, { role: 'admin' });
    const patch = (disabled: boolean) => on.app.inject({ method: 'PATCH', url: `/api/v1/admin/users/${u.id}`, headers: admin.headers, payload: { disabled } });
    expect((await patch(true)).statusCode).toBe(200);
    await expectRefused(token);
    expect((await patch(false)).statusCode).toBe(200);
    await expectRefused(token);
  });

  it('a token issued after the revocation works (the old project can still sign the user in)', async () => {
    const { u, token } = await holder();
    expect((await api('POST', '/logout', u.accessToken, { scope: 'global' })).statusCode).toBe(204);
    await expectRefused(token);
    const [row] = await on.testDb.sql<{ s: number }[]>`select floor(extract(epoch from sessions_revoked_at))::int as s from users where id = ${u.id}`;
    const later = sign(claims(u.id, { iat: row!.s + 1 }));
    expect((await me(on, later)).statusCode).toBe(200);
  });
});
