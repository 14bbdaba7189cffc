import { hash as bcryptHash } from '@node-rs/bcrypt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../../helpers/app.js';
import { STRONG_PASSWORD, login, randomIp, registerUser, tokenFromMail } from '../../helpers/auth.js';

let t: TestApp;
beforeAll(async () => {
  t = await buildTestApp();
});
afterAll(() => t?.close());

const register = (payload: Record<string, unknown>, remoteAddress = randomIp()) =>
  t.app.inject({ method: 'POST', url: '/api/v1/auth/register', remoteAddress, payload });

const USER_KEYS = ['created_at', 'email', 'email_verified', 'full_name', 'id', 'last_login_at', 'preferences', 'role', 'updated_at'];

describe('POST /api/v1/auth/register', () => {
  it('201 with a session; the email is stored trimmed and lower-cased', async () => {
    const res = await register({ email: '  Ada.Lovelace@Example.COM ', password: STRONG_PASSWORD, full_name: 'Ada' });
    expect(res.statusCode).toBe(201);
    const body = res.json();
    expect(Object.keys(body).sort()).toEqual(['access_token', 'expires_at', 'expires_in', 'refresh_token', 'token_type', 'user']);
    expect(body.token_type).toBe('bearer');
    expect(body.expires_in).toBe(t.config.auth.accessTokenTtlS);
    expect(body.expires_at).toBeGreaterThan(Date.now() / 1000);
    expect(body.refresh_token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Object.keys(body.user).sort()).toEqual(USER_KEYS);
    expect(body.user).toMatchObject({ email: 'ada.lovelace@example.com', full_name: 'Ada', role: 'user', email_verified: false, preferences: {} });
    const [row] = await t.testDb.sql`select email, password_hash from users where id = ${body.user.id}`;
    expect(row!.email).toBe('ada.lovelace@example.com');
    expect(row!.password_hash).toMatch(/^\$argon2id\$v=19\$m=8192,t=1,p=1\$/);
    const [stored] = await t.testDb.sql`select token_hash from refresh_tokens rt join sessions s on s.id = rt.session_id where s.user_id = ${body.user.id}`;
    expect(stored!.token_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(stored!.token_hash).not.toContain(body.refresh_token);
    const audit = await t.testDb.sql`select action, actor_id from audit_logs where entity_id = ${body.user.id}`;
    expect(audit.map((a) => a.action)).toContain('auth.register');
  });

  it('the access token carries the documented claims', async () => {
    const u = await registerUser(t.app);
    const claims = t.app.jwt.decode<Record<string, unknown>>(u.accessToken)!;
    expect(Object.keys(claims).sort()).toEqual(['aal', 'amr', 'aud', 'email', 'exp', 'iat', 'iss', 'role', 'sid', 'sub']);
    expect(claims).toMatchObject({ sub: u.id, role: 'user', email: u.email, sid: u.sessionId, iss: 'offbase', aud: 'authenticated' });
    expect((claims.exp as number) - (claims.iat as number)).toBe(t.config.auth.accessTokenTtlS);
  });

  it('400 validation_failed for an invalid email, unknown fields or a missing password', async () => {
    for (const payload of [
      { email: 'not-an-email', password: STRONG_PASSWORD },
      { email: 'a@b', password: STRONG_PASSWORD },
      { email: 'x@example.com' },
      { email: 'x@example.com', password: STRONG_PASSWORD, role: 'admin' },
    ]) {
      const res = await register(payload);
      expect(res.statusCode, JSON.stringify(payload)).toBe(400);
      expect(res.json().code).toBe('validation_failed');
    }
  });

  it('400 weak_password with every reason', async () => {
    const cases: [string, string, string[]][] = [
      ['short@example.com', 'a1!b', ['too_short']],
      ['long@example.com', 'x'.repeat(257), ['too_long']],
      ['common@example.com', 'password1', ['common_password']],
      ['common2@example.com', 'Qwertyuiop', ['common_password']],
      ['self@example.com', 'self@example.com', ['contains_email']],
      ['me@example.com', 'xx-me@example.com-xx', ['contains_email']],
    ];
    for (const [email, password, reasons] of cases) {
      const res = await register({ email, password });
      expect(res.statusCode, password).toBe(400);
      const body = res.json();
      expect(body.code).toBe('weak_password');
      expect(body.details.map((d: { reason: string }) => d.reason)).toEqual(reasons);
      expect(JSON.stringify(body)).not.toContain(password);
    }
    const [row] = await t.testDb.sql`select count(*)::int as n from users where email like '%@example.com' and email in ('short@example.com', 'self@example.com')`;
    expect(row!.n).toBe(0);
  });

  it('409 email_taken, whatever the case of the address', async () => {
    await registerUser(t.app, { email: 'taken@example.com' });
    const res = await register({ email: 'TAKEN@example.com', password: STRONG_PASSWORD });
    expect(res.statusCode).toBe(409);
    expect(res.json().code).toBe('email_taken');
  });

  it('concurrent registrations of one email: one 201, the rest 409 email_taken', async () => {
    const results = await Promise.all(
      ['race@example.com', 'RACE@example.com', ' race@example.com'].map((email) => register({ email, password: STRONG_PASSWORD })),
    );
    expect(results.map((r) => r.statusCode).sort()).toEqual([201, 409, 409]);
    for (const r of results.filter((r) => r.statusCode === 409)) expect(r.json().code).toBe('email_taken');
  });
});

describe('POST /api/v1/auth/login', () => {
  it('200 with a session; last_login_at is set and audited', async () => {
    const u = await registerUser(t.app);
    const res = await login(t.app, ` ${u.email.toUpperCase()} `, u.password);
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.user.id).toBe(u.id);
    expect(body.user.last_login_at).not.toBeNull();
    expect(body.refresh_token).not.toBe(u.refreshToken);
    const me = await t.app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: { authorization: `Bearer ${body.access_token}` } });
    expect(me.statusCode).toBe(200);
    const [audit] = await t.testDb.sql`select actor_id, changes from audit_logs where action = 'auth.login' and actor_id = ${u.id}`;
    expect(audit).toBeDefined();
  });

  it('one 401 invalid_credentials body for unknown email, wrong password, no password and disabled users', async () => {
    const wrong = await registerUser(t.app);
    const disabled = await registerUser(t.app);
    await t.testDb.sql`update users set disabled_at = now() where id = ${disabled.id}`;
    await t.testDb.sql`insert into users (email) values ('imported@example.com')`;
    const attempts = [
      await login(t.app, 'nobody@example.com', STRONG_PASSWORD),
      await login(t.app, wrong.email, 'not-the-password-at-all'),
      await login(t.app, 'imported@example.com', STRONG_PASSWORD),
      await login(t.app, disabled.email, disabled.password),
    ];
    const bodies = attempts.map((r) => {
      expect(r.statusCode).toBe(401);
      const { request_id: _id, ...rest } = r.json();
      return rest;
    });
    for (const b of bodies) expect(b).toEqual({ code: 'invalid_credentials', message: 'Invalid email or password.' });
    const failed = await t.testDb.sql`select actor_id, changes from audit_logs where action = 'auth.login_failed' order by id`;
    expect(failed.map((f) => (f.changes as { reason: string }).reason)).toEqual(['unknown_email', 'wrong_password', 'no_password', 'disabled']);
    expect(failed[0]!.actor_id).toBeNull();
    expect(failed[1]!.actor_id).toBe(wrong.id);
    for (const f of failed) expect(JSON.stringify(f)).not.toMatch(/not-the-password|correct-horse/);
  });

  it('400 validation_failed for a malformed body', async () => {
    const res = await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: 'x@example.com' } });
    expect(res.statusCode).toBe(400);
    expect(res.json().code).toBe('validation_failed');
  });

  it('unknown email and wrong password take about the same time (medians, generous bound)', async () => {
    const u = await registerUser(t.app);
    const time = async (email: string) => {
      const start = process.hrtime.bigint();
      const res = await login(t.app, email, 'definitely-wrong-password');
      expect(res.statusCode).toBe(401);
      return Number(process.hrtime.bigint() - start) / 1e6;
    };
    const unknown: number[] = [];
    const wrong: number[] = [];
    for (let i = 0; i < 7; i++) {
      unknown.push(await time(`ghost-${i}@example.com`));
      wrong.push(await time(u.email));
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const ratio = median(unknown) / median(wrong);
    expect(ratio).toBeGreaterThan(1 / 3);
    expect(ratio).toBeLessThan(3);
  });
});

describe('password hashes', () => {
  it('a bcrypt ($2a$, cost 10) user from Supabase logs in and the hash becomes argon2id', async () => {
    const password = 'supabase-era-passphrase-7';
    const hash = (await bcryptHash(password, 10)).replace(/^\$2[aby]\$/, '$2a$');
    expect(hash).toMatch(/^\$2a\$10\$/);
    await t.testDb.sql`insert into users (email, password_hash) values ('legacy@example.com', ${hash})`;
    expect((await login(t.app, 'legacy@example.com', 'wrong-password-here')).statusCode).toBe(401);
    const [still] = await t.testDb.sql`select password_hash from users where email = 'legacy@example.com'`;
    expect(still!.password_hash).toBe(hash);
    const res = await login(t.app, 'legacy@example.com', password);
    expect(res.statusCode).toBe(200);
    const [row] = await t.testDb.sql`select password_hash from users where email = 'legacy@example.com'`;
    expect(row!.password_hash).toMatch(/^\$argon2id\$/);
    expect((await login(t.app, 'legacy@example.com', password)).statusCode).toBe(200);
  });

  it('$2y$ hashes verify, and a candidate past bcrypt’s 72 bytes never matches by truncation', async () => {
    const password = 'y'.repeat(72);
    const hash = (await bcryptHash(password, 4)).replace(/^\$2[aby]\$/, '$2y$');
    await t.testDb.sql`insert into users (email, password_hash) values ('php@example.com', ${hash})`;
    expect((await login(t.app, 'php@example.com', password + 'extra')).statusCode).toBe(401);
    expect((await login(t.app, 'php@example.com', password)).statusCode).toBe(200);
  });

  it('raising the argon2 parameters re-hashes on the next login', async () => {
    const u = await registerUser(t.app);
    const [before] = await t.testDb.sql`select password_hash from users where id = ${u.id}`;
    expect(before!.password_hash).toContain('m=8192,t=1,p=1');
    const stronger = await buildTestApp({ ARGON2_MEMORY_KIB: '9216', ARGON2_TIME_COST: '2' }, { testDb: t.testDb });
    try {
      expect((await login(stronger.app, u.email, u.password)).statusCode).toBe(200);
    } finally {
      await stronger.close();
    }
    const [after] = await t.testDb.sql`select password_hash from users where id = ${u.id}`;
    expect(after!.password_hash).toContain('m=9216,t=2,p=1');
    // The weaker config still verifies the stronger hash and does not downgrade it.
    expect((await login(t.app, u.email, u.password)).statusCode).toBe(200);
    const [kept] = await t.testDb.sql`select password_hash from users where id = ${u.id}`;
    expect(kept!.password_hash).toBe(after!.password_hash);
  });
});

describe('/api/v1/auth/me', () => {
  it('GET returns the user; PATCH updates full_name and preferences', async () => {
    const u = await registerUser(t.app, { full_name: 'Before' });
    const me = await t.app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: u.headers });
    expect(me.statusCode).toBe(200);
    expect(Object.keys(me.json()).sort()).toEqual(USER_KEYS);
    const patch = await t.app.inject({ method: 'PATCH', url: '/api/v1/auth/me', headers: u.headers, payload: { full_name: 'After', preferences: { theme: 'dark' } } });
    expect(patch.statusCode).toBe(200);
    expect(patch.json()).toMatchObject({ full_name: 'After', preferences: { theme: 'dark' } });
    const [audit] = await t.testDb.sql`select changes from audit_logs where action = 'user.update' and actor_id = ${u.id}`;
    expect(audit!.changes).toMatchObject({ full_name: { before: 'Before', after: 'After' } });
  });

  it('PATCH rejects unknown fields, an empty body and role changes', async () => {
    const u = await registerUser(t.app);
    for (const payload of [{ role: 'admin' }, {}, { email: 'x@example.com' }]) {
      const res = await t.app.inject({ method: 'PATCH', url: '/api/v1/auth/me', headers: u.headers, payload });
      expect(res.statusCode).toBe(400);
      expect(res.json().code).toBe('validation_failed');
    }
  });

  it('401 unauthorized without a token', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/api/v1/auth/me' });
    expect(res.statusCode).toBe(401);
    expect(res.json().code).toBe('unauthorized');
  });
});

describe('REQUIRE_EMAIL_VERIFICATION=true', () => {
  it('register answers 201 without a session; login is refused with 403 until the email is verified', async () => {
    const strict = await buildTestApp({ REQUIRE_EMAIL_VERIFICATION: 'true' }, { testDb: t.testDb });
    try {
      const reg = await strict.app.inject({ method: 'POST', url: '/api/v1/auth/register', payload: { email: 'strict@example.com', password: STRONG_PASSWORD } });
      expect(reg.statusCode).toBe(201);
      expect(reg.json()).toMatchObject({ email_verification_required: true, user: { email: 'strict@example.com', email_verified: false } });
      expect(reg.json().access_token).toBeUndefined();
      const wrong = await login(strict.app, 'strict@example.com', 'wrong-password-1234');
      expect(wrong.json().code).toBe('invalid_credentials');
      const refused = await login(strict.app, 'strict@example.com', STRONG_PASSWORD);
      expect(refused.statusCode).toBe(403);
      expect(refused.json().code).toBe('email_not_verified');
      const token = tokenFromMail(strict.app, 'strict@example.com', 'verify-email');
      expect((await strict.app.inject({ method: 'POST', url: '/api/v1/auth/email/verify', payload: { token } })).statusCode).toBe(204);
      expect((await login(strict.app, 'strict@example.com', STRONG_PASSWORD)).statusCode).toBe(200);
    } finally {
      await strict.close();
    }
  });
});

describe('responses and request bodies', () => {
  it('every response with a token or a session says Cache-Control: no-store', async () => {
    const u = await registerUser(t.app);
    const registered = await register({ email: `nostore-${Date.now()}@example.com`, password: STRONG_PASSWORD });
    const loggedIn = await login(t.app, u.email, u.password);
    const refreshed = await t.app.inject({ method: 'POST', url: '/api/v1/auth/refresh', remoteAddress: randomIp(), payload: { refresh_token: loggedIn.json().refresh_token } });
    const me = await t.app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: u.headers });
    const failed = await login(t.app, u.email, 'not-the-password');
    for (const [name, res] of Object.entries({ registered, loggedIn, refreshed, me, failed })) {
      expect(res.statusCode, name).toBeLessThan(500);
      expect(res.headers['cache-control'], name).toBe('no-store');
    }
  });

  it('415 unsupported_media_type for a text/plain (or other non-JSON) body, in the error shape', async () => {
    const u = await registerUser(t.app);
    const json = JSON.stringify({ email: u.email, password: u.password });
    for (const contentType of ['text/plain', 'text/plain; charset=utf-8', 'application/x-www-form-urlencoded', 'text/csv']) {
      for (const [url, headers] of [['/api/v1/auth/login', {}], ['/api/v1/documents', u.headers]] as const) {
        const res = await t.app.inject({ method: 'POST', url, remoteAddress: randomIp(), headers: { ...headers, 'content-type': contentType }, payload: json });
        expect(res.statusCode, `${contentType} ${url}`).toBe(415);
        expect(res.json()).toMatchObject({ code: 'unsupported_media_type', message: expect.any(String), request_id: expect.any(String) });
      }
    }
  });
});
