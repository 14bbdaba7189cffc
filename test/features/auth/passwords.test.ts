import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../../helpers/app.js';
import { STRONG_PASSWORD, login, mailbox, randomIp, registerUser, tokenFromMail } from '../../helpers/auth.js';

let t: TestApp;
// Every secret a flow produced; the last test proves none of them reached a response or log line.
const secrets = new Set<string>();
const bodies: string[] = [];

beforeAll(async () => {
  t = await buildTestApp({ PUBLIC_URL: 'https://app.example.com/' });
});
afterAll(() => t?.close());

async function post(url: string, payload: unknown, headers: Record<string, string> = {}) {
  const res = await t.app.inject({ method: 'POST', url: `/api/v1/auth${url}`, remoteAddress: randomIp(), payload: payload as object, headers });
  bodies.push(res.body);
  return res;
}
const me = (token: string) => t.app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: { authorization: `Bearer ${token}` } });

async function user() {
  const u = await registerUser(t.app);
  secrets.add(u.password).add(u.refreshToken).add(u.accessToken);
  return u;
}

describe('POST /password/change', () => {
  it('204: the new password works, the old does not; other sessions die, this one lives', async () => {
    const u = await user();
    const other = (await login(t.app, u.email, u.password)).json();
    const next = 'a-brand-new-passphrase-99';
    secrets.add(next);
    const res = await post('/password/change', { current_password: u.password, new_password: next }, u.headers);
    expect(res.statusCode).toBe(204);
    expect((await me(u.accessToken)).statusCode).toBe(200);
    expect((await me(other.access_token)).json().code).toBe('invalid_token');
    expect((await post('/refresh', { refresh_token: other.refresh_token })).json().code).toBe('invalid_refresh_token');
    expect((await login(t.app, u.email, u.password)).statusCode).toBe(401);
    expect((await login(t.app, u.email, next)).statusCode).toBe(200);
    const [audit] = await t.testDb.sql`select changes from audit_logs where action = 'auth.password_change' and actor_id = ${u.id}`;
    expect(audit!.changes).toEqual({ sessions_revoked: 1 });
  });

  it('401 invalid_credentials for a wrong current password; 400 weak_password for a weak new one', async () => {
    const u = await user();
    const wrong = await post('/password/change', { current_password: 'not-my-password', new_password: 'another-good-passphrase' }, u.headers);
    expect(wrong.statusCode).toBe(401);
    expect(wrong.json().code).toBe('invalid_credentials');
    const weak = await post('/password/change', { current_password: u.password, new_password: '12345678' }, u.headers);
    expect(weak.statusCode).toBe(400);
    expect(weak.json()).toMatchObject({ code: 'weak_password', details: [{ reason: 'common_password' }] });
    expect((await login(t.app, u.email, u.password)).statusCode).toBe(200);
  });

  it('401 unauthorized without a token', async () => {
    const res = await post('/password/change', { current_password: 'x', new_password: 'another-good-passphrase' });
    expect(res.json().code).toBe('unauthorized');
  });
});

describe('forgot and reset', () => {
  it('202 with the same body whether or not the email exists; only a real account gets mail', async () => {
    const u = await user();
    const before = mailbox(t.app).length;
    const known = await post('/password/forgot', { email: u.email.toUpperCase() });
    const unknown = await post('/password/forgot', { email: 'nobody-here@example.com' });
    expect(known.statusCode).toBe(202);
    expect(unknown.statusCode).toBe(202);
    expect(known.json()).toEqual(unknown.json());
    const sent = mailbox(t.app).slice(before);
    expect(sent.map((m) => m.to)).toEqual([u.email]);
    expect(sent[0]!.text).toContain('https://app.example.com/reset-password#token=');
  });

  it('reset: 204, single-use, all sessions revoked, the new password works', async () => {
    const u = await user();
    await post('/password/forgot', { email: u.email });
    const token = tokenFromMail(t.app, u.email, 'reset-password');
    secrets.add(token);
    const next = 'reset-to-this-passphrase-1';
    secrets.add(next);
    const weak = await post('/password/reset', { token, new_password: 'short' });
    expect(weak.json().code).toBe('weak_password');
    const res = await post('/password/reset', { token, new_password: next });
    expect(res.statusCode).toBe(204);
    expect((await me(u.accessToken)).json().code).toBe('invalid_token');
    expect((await post('/refresh', { refresh_token: u.refreshToken })).json().code).toBe('invalid_refresh_token');
    expect((await login(t.app, u.email, next)).statusCode).toBe(200);
    const again = await post('/password/reset', { token, new_password: 'yet-another-passphrase-2' });
    expect(again.statusCode).toBe(400);
    expect(again.json().code).toBe('invalid_token');
    const [row] = await t.testDb.sql`select email_verified_at from users where id = ${u.id}`;
    expect(row!.email_verified_at).not.toBeNull();
    const audit = await t.testDb.sql`select action from audit_logs where entity_id = ${u.id} and action like 'auth.password_reset%' order by id`;
    expect(audit.map((a) => a.action)).toEqual(['auth.password_reset_request', 'auth.password_reset']);
  });

  it('400 invalid_token for unknown, expired and superseded tokens', async () => {
    const u = await user();
    expect((await post('/password/reset', { token: 'A'.repeat(43), new_password: 'fine-passphrase-123' })).json().code).toBe('invalid_token');
    await post('/password/forgot', { email: u.email });
    const first = tokenFromMail(t.app, u.email, 'reset-password');
    await post('/password/forgot', { email: u.email });
    const second = tokenFromMail(t.app, u.email, 'reset-password');
    secrets.add(first).add(second);
    expect((await post('/password/reset', { token: first, new_password: 'fine-passphrase-123' })).json().code).toBe('invalid_token');
    await t.testDb.sql`update one_time_tokens set expires_at = now() - interval '1 second' where user_id = ${u.id} and used_at is null`;
    const expired = await post('/password/reset', { token: second, new_password: 'fine-passphrase-123' });
    expect(expired.statusCode).toBe(400);
    expect(expired.json().code).toBe('invalid_token');
  });

  it('an imported user without a password sets one through the reset flow', async () => {
    await t.testDb.sql`insert into users (email) values ('no-password@example.com')`;
    await post('/password/forgot', { email: 'no-password@example.com' });
    const token = tokenFromMail(t.app, 'no-password@example.com', 'reset-password');
    secrets.add(token);
    expect((await post('/password/reset', { token, new_password: 'first-real-passphrase' })).statusCode).toBe(204);
    expect((await login(t.app, 'no-password@example.com', 'first-real-passphrase')).statusCode).toBe(200);
  });
});

describe('email verification', () => {
  it('registration mails a link; verify marks the address verified once', async () => {
    const u = await user();
    const token = tokenFromMail(t.app, u.email, 'verify-email');
    secrets.add(token);
    expect((await me(u.accessToken)).json().email_verified).toBe(false);
    const res = await post('/email/verify', { token });
    expect(res.statusCode).toBe(204);
    expect((await me(u.accessToken)).json().email_verified).toBe(true);
    const again = await post('/email/verify', { token });
    expect(again.statusCode).toBe(400);
    expect(again.json().code).toBe('invalid_token');
    const [audit] = await t.testDb.sql`select actor_id from audit_logs where action = 'auth.email_verify' and entity_id = ${u.id}`;
    expect(audit!.actor_id).toBe(u.id);
  });

  it('resend: 202 and a new link that replaces the old one; nothing is sent once verified', async () => {
    const u = await user();
    const old = tokenFromMail(t.app, u.email, 'verify-email');
    const res = await post('/email/verify/resend', undefined, u.headers);
    expect(res.statusCode).toBe(202);
    const fresh = tokenFromMail(t.app, u.email, 'verify-email');
    secrets.add(old).add(fresh);
    expect(fresh).not.toBe(old);
    expect((await post('/email/verify', { token: old })).json().code).toBe('invalid_token');
    expect((await post('/email/verify', { token: fresh })).statusCode).toBe(204);
    const count = mailbox(t.app).filter((m) => m.to === u.email).length;
    expect((await post('/email/verify/resend', undefined, u.headers)).statusCode).toBe(202);
    expect(mailbox(t.app).filter((m) => m.to === u.email)).toHaveLength(count);
    expect((await post('/email/verify/resend', undefined)).json().code).toBe('unauthorized');
  });

  it('a reset token is not a verification token', async () => {
    const u = await user();
    await post('/password/forgot', { email: u.email });
    const token = tokenFromMail(t.app, u.email, 'reset-password');
    secrets.add(token);
    expect((await post('/email/verify', { token })).json().code).toBe('invalid_token');
  });
});

describe('one-time links end with the password they were mailed under', () => {
  it('the sign-up verification link stops working after a password reset', async () => {
    const u = await user();
    const verification = tokenFromMail(t.app, u.email, 'verify-email');
    await post('/password/forgot', { email: u.email });
    const reset = tokenFromMail(t.app, u.email, 'reset-password');
    secrets.add(verification).add(reset);
    expect((await post('/password/reset', { token: reset, new_password: 'reset-to-this-passphrase-1' })).statusCode).toBe(204);
    const res = await post('/email/verify', { token: verification });
    expect(res.statusCode).toBe(400);
    expect(res.json().code).toBe('invalid_token');
  });

  it('a reset link mailed before a password change stops working after it', async () => {
    const u = await user();
    await post('/password/forgot', { email: u.email });
    const reset = tokenFromMail(t.app, u.email, 'reset-password');
    const verification = tokenFromMail(t.app, u.email, 'verify-email');
    secrets.add(reset).add(verification);
    const next = 'a-brand-new-passphrase-99';
    expect((await post('/password/change', { current_password: u.password, new_password: next }, u.headers)).statusCode).toBe(204);
    const res = await post('/password/reset', { token: reset, new_password: 'attacker-chosen-passphrase-1' });
    expect(res.statusCode).toBe(400);
    expect(res.json().code).toBe('invalid_token');
    expect((await post('/email/verify', { token: verification })).json().code).toBe('invalid_token');
    expect((await login(t.app, u.email, next)).statusCode).toBe(200);
  });

  it('disabling the user retires their links: they stay dead when the user is enabled again', async () => {
    const u = await user();
    await post('/password/forgot', { email: u.email });
    const reset = tokenFromMail(t.app, u.email, 'reset-password');
    secrets.add(reset);
    const admin = await registerUser(t.app);
    await t.testDb.sql`update users set role = 'admin' where id = ${admin.id}`;
    for (const disabled of [true, false]) {
      const res = await t.app.inject({ method: 'PATCH', url: `/api/v1/admin/users/${u.id}`, headers: admin.headers, payload: { disabled } });
      expect(res.statusCode).toBe(200);
    }
    expect((await post('/password/reset', { token: reset, new_password: 'attacker-chosen-passphrase-1' })).json().code).toBe('invalid_token');
  });
});

describe('secrets', () => {
  it('no response and no log line contains a password, hash or token', async () => {
    const hashes = await t.testDb.sql`select password_hash as h from users where password_hash is not null union all select token_hash from refresh_tokens union all select token_hash from one_time_tokens`;
    const all = [...secrets, ...hashes.map((r) => r.h as string)];
    expect(all.length).toBeGreaterThan(20);
    const logs = t.logs.join('\n');
    expect(logs).toContain('mail recorded');
    // A recipient in the log would reveal which addresses have accounts.
    expect(logs).not.toMatch(/"to":/);
    for (const secret of all) {
      expect(logs.includes(secret), `log contains ${secret.slice(0, 6)}…`).toBe(false);
      for (const body of bodies) expect(body.includes(secret)).toBe(false);
    }
    for (const pw of [STRONG_PASSWORD, 'reset-to-this-passphrase-1']) expect(logs).not.toContain(pw);
  });
});
