import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../../helpers/app.js';
import { STRONG_PASSWORD, login, mailbox, randomIp, registerUser, type RegisteredUser } from '../../helpers/auth.js';

let t: TestApp;

beforeAll(async () => {
  t = await buildTestApp();
});
afterAll(async () => {
  await t?.close();
});

const del = (user: RegisteredUser, payload?: unknown) =>
  t.app.inject({ method: 'DELETE', url: '/api/v1/auth/me', headers: user.headers, remoteAddress: randomIp(), ...(payload === undefined ? {} : { payload: payload as object }) });

async function withData(user: RegisteredUser) {
  const doc = await t.app.inject({ method: 'POST', url: '/api/v1/documents', headers: user.headers, payload: { title: 'Mine', s3_bucket: 'b', s3_key: `${user.id}.pdf`, content_text: 'secret text' } });
  expect(doc.statusCode).toBe(201);
  const analysis = await t.app.inject({ method: 'POST', url: `/api/v1/documents/${doc.json().id}/analyses`, headers: user.headers, payload: { kind: 'summary' } });
  expect(analysis.statusCode).toBe(201);
  return { documentId: doc.json().id as string, analysisId: analysis.json().id as string };
}

describe('DELETE /api/v1/auth/me', () => {
  it('refuses without a password (400) and with a wrong one (401 invalid_credentials), deleting nothing', async () => {
    const user = await registerUser(t.app);
    await withData(user);
    expect((await del(user)).statusCode).toBe(400);
    expect((await del(user, {})).json().code).toBe('validation_failed');
    const wrong = await del(user, { password: 'not-the-password-at-all' });
    expect(wrong.statusCode).toBe(401);
    expect(wrong.json().code).toBe('invalid_credentials');
    const unknown = await del(user, { password: STRONG_PASSWORD, extra: 1 });
    expect(unknown.statusCode).toBe(400);
    const hostile = await t.app.inject({ method: 'DELETE', url: '/api/v1/auth/me', headers: { ...user.headers, 'content-type': 'application/json' }, payload: '{"password":"x","__proto__":{"a":1}}' });
    expect(hostile.statusCode).toBe(400);
    const huge = await del(user, { password: 'x'.repeat(100_000) });
    expect(huge.statusCode).toBe(400);
    // Still there, still signed in, data intact.
    expect((await t.app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: user.headers })).statusCode).toBe(200);
    expect((await t.app.inject({ method: 'GET', url: '/api/v1/documents', headers: user.headers })).json().data).toHaveLength(1);
    const [failed] = await t.testDb.sql`select count(*)::int as n from audit_logs where actor_id = ${user.id} and action = 'auth.account_delete_failed'`;
    expect(failed!.n).toBe(1);
  });

  it('wrong passwords are rate limited like logins', async () => {
    const app = await buildTestApp({ RATE_LIMIT_LOGIN_PER_EMAIL: '3' });
    try {
      const user = await registerUser(app.app);
      const codes: number[] = [];
      for (let i = 0; i < 4; i++) {
        const res = await app.app.inject({ method: 'DELETE', url: '/api/v1/auth/me', headers: user.headers, remoteAddress: randomIp(), payload: { password: `wrong-${i}-password` } });
        codes.push(res.statusCode);
      }
      expect(codes).toEqual([401, 401, 401, 429]);
    } finally {
      await app.close();
    }
  });

  it('deletes data, ends every session at once, leaves a tombstone and audits it', async () => {
    const user = await registerUser(t.app);
    const other = await registerUser(t.app);
    const { documentId } = await withData(user);
    const othersData = await withData(other);
    const second = await login(t.app, user.email, user.password);
    const secondToken = second.json().access_token as string;

    const res = await del(user, { password: user.password });
    expect(res.statusCode).toBe(204);

    // Both sessions' access tokens fail on the next request; the refresh token is dead.
    expect((await t.app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: user.headers })).statusCode).toBe(401);
    expect((await t.app.inject({ method: 'GET', url: '/api/v1/documents', headers: { authorization: `Bearer ${secondToken}` } })).statusCode).toBe(401);
    const refresh = await t.app.inject({ method: 'POST', url: '/api/v1/auth/refresh', remoteAddress: randomIp(), payload: { refresh_token: user.refreshToken } });
    expect(refresh.statusCode).toBe(401);
    // The password no longer signs in.
    expect((await login(t.app, user.email, user.password)).json().code).toBe('invalid_credentials');

    const sql = t.testDb.sql;
    expect((await sql`select count(*)::int as n from documents where owner_id = ${user.id}`)[0]!.n).toBe(0);
    expect((await sql`select count(*)::int as n from analyses where owner_id = ${user.id}`)[0]!.n).toBe(0);
    expect((await sql`select count(*)::int as n from documents where id = ${documentId}`)[0]!.n).toBe(0);
    expect((await sql`select count(*)::int as n from sessions where user_id = ${user.id}`)[0]!.n).toBe(0);
    expect((await sql`select count(*)::int as n from one_time_tokens where user_id = ${user.id}`)[0]!.n).toBe(0);
    // The other user's rows are untouched.
    expect((await sql`select count(*)::int as n from documents where id = ${othersData.documentId}`)[0]!.n).toBe(1);
    expect((await sql`select count(*)::int as n from analyses where id = ${othersData.analysisId}`)[0]!.n).toBe(1);
    expect((await t.app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: other.headers })).statusCode).toBe(200);

    const [row] = await sql`select email, full_name, password_hash, deleted_at, preferences, metadata from users where id = ${user.id}`;
    expect(row).toMatchObject({ email: null, full_name: null, password_hash: null, preferences: {}, metadata: {} });
    expect(row!.deleted_at).not.toBeNull();

    // The audit trail is whole: every row the user wrote is still there, each actor id resolves.
    const trail = await sql`select a.action, u.id as resolved from audit_logs a left join users u on u.id = a.actor_id where a.actor_id = ${user.id} order by a.id`;
    expect(trail.map((r) => r.action)).toEqual(expect.arrayContaining(['auth.register', 'document.create', 'auth.login', 'auth.account_delete']));
    expect(trail.every((r) => r.resolved === user.id)).toBe(true);
    const [deletion] = await sql`select changes from audit_logs where actor_id = ${user.id} and action = 'auth.account_delete'`;
    expect(deletion!.changes).toMatchObject({ documents: 1, analyses: 1, sessions: 2 });

    // A notice went to the old address, without a token or link.
    const notice = mailbox(t.app).filter((m) => m.to === user.email && m.subject === 'Your account was deleted');
    expect(notice).toHaveLength(1);
    expect(notice[0]!.text).not.toMatch(/token|https?:\/\//i);
    // No log line carries the password.
    expect(t.logs.join('\n')).not.toContain(user.password);
  });

  it('the address can register again, as a new account that sees none of the old data', async () => {
    const user = await registerUser(t.app);
    await withData(user);
    expect((await del(user, { password: user.password })).statusCode).toBe(204);
    const again = await registerUser(t.app, { email: user.email.toUpperCase() });
    expect(again.id).not.toBe(user.id);
    expect(again.email).toBe(user.email);
    expect((await t.app.inject({ method: 'GET', url: '/api/v1/documents', headers: again.headers })).json().data).toHaveLength(0);
    expect((await login(t.app, user.email, user.password)).statusCode).toBe(200);
    // The tombstone is not found by email: password reset mails only the new account.
    const before = mailbox(t.app).length;
    const forgot = await t.app.inject({ method: 'POST', url: '/api/v1/auth/password/forgot', remoteAddress: randomIp(), payload: { email: user.email } });
    expect(forgot.statusCode).toBe(202);
    await new Promise((r) => setTimeout(r, 50));
    expect(mailbox(t.app).length).toBe(before + 1);
  });

  it('a deleted account cannot be deleted twice, nor can its token act', async () => {
    const user = await registerUser(t.app);
    expect((await del(user, { password: user.password })).statusCode).toBe(204);
    expect((await del(user, { password: user.password })).statusCode).toBe(401);
  });

  it('the last active admin cannot delete their account (409); with another admin they can', async () => {
    const app = await buildTestApp();
    try {
      const admin = await registerUser(app.app);
      await app.testDb.sql`update users set role = 'admin' where id = ${admin.id}`;
      const refused = await app.app.inject({ method: 'DELETE', url: '/api/v1/auth/me', headers: admin.headers, remoteAddress: randomIp(), payload: { password: admin.password } });
      expect(refused.statusCode).toBe(409);
      expect(refused.json().code).toBe('conflict');
      const other = await registerUser(app.app);
      await app.testDb.sql`update users set role = 'admin' where id = ${other.id}`;
      const ok = await app.app.inject({ method: 'DELETE', url: '/api/v1/auth/me', headers: admin.headers, remoteAddress: randomIp(), payload: { password: admin.password } });
      expect(ok.statusCode).toBe(204);
    } finally {
      await app.close();
    }
  });

  it('a mail failure does not fail the deletion, and the log line names no address', async () => {
    const app = await buildTestApp({}, {
      extend: (a) => {
        a.mailer.send = async () => {
          throw new Error('smtp down');
        };
      },
    });
    try {
      const user = await registerUser(app.app);
      const res = await app.app.inject({ method: 'DELETE', url: '/api/v1/auth/me', headers: user.headers, remoteAddress: randomIp(), payload: { password: user.password } });
      expect(res.statusCode).toBe(204);
      await new Promise((r) => setTimeout(r, 50));
      const failures = app.logs.filter((l) => l.includes('mail delivery failed') && l.includes('account_deleted'));
      expect(failures).toHaveLength(1);
      expect(failures[0]).not.toContain(user.email);
    } finally {
      await app.close();
    }
  });
});
