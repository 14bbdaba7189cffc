import { generate } from 'otplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../../helpers/app.js';
import { mailbox, registerUser, type RegisteredUser } from '../../helpers/auth.js';

// Where account security meets MFA: deleting an account with a second factor needs a code,
// the factors go with the account, and adding or removing a factor mails its owner.

let t: TestApp;
beforeAll(async () => {
  t = await buildTestApp();
});
afterAll(async () => {
  await t?.close();
});

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const inject = (method: 'GET' | 'POST' | 'DELETE', url: string, token: string, payload?: object) =>
  t.app.inject({ method, url: `/api/v1/auth${url}`, headers: bearer(token), remoteAddress: '10.8.8.8', ...(payload ? { payload } : {}) });
/** The code of the step `offsetSteps` from now: consecutive accepted codes never share a step. */
const codeAt = (secret: string, offsetSteps = 0) => generate({ secret, epoch: Math.floor(Date.now() / 1000) + offsetSteps * 30 });
const noticesTo = (to: string, subject: string) => mailbox(t.app).filter((m) => m.to === to && m.subject === subject);

async function enrolAndVerify(user: RegisteredUser, name: string) {
  const enrolled = await inject('POST', '/mfa/totp', user.accessToken, { friendly_name: name });
  expect(enrolled.statusCode).toBe(201);
  const factor = enrolled.json() as { id: string; secret: string };
  const challenge = await inject('POST', `/mfa/factors/${factor.id}/challenge`, user.accessToken);
  const verified = await inject('POST', `/mfa/factors/${factor.id}/verify`, user.accessToken, { challenge_id: challenge.json().id, code: await codeAt(factor.secret) });
  expect(verified.statusCode).toBe(200);
  return { factor, aal2: verified.json().access_token as string };
}

describe('deleting an account with MFA on', () => {
  it('needs a valid code besides the password; then the factors go with the account', async () => {
    const user = await registerUser(t.app);
    const { factor, aal2 } = await enrolAndVerify(user, 'phone');
    const [on] = await t.database.db.execute<{ mfa_enabled: boolean }>(`select mfa_enabled from users where id = '${user.id}'` as never);
    expect(on!.mfa_enabled).toBe(true);

    const noCode = await inject('DELETE', '/me', aal2, { password: user.password });
    expect(noCode.statusCode).toBe(403);
    expect(noCode.json().code).toBe('mfa_required');
    const right = await codeAt(factor.secret, 1);
    const wrongCode = await inject('DELETE', '/me', aal2, { password: user.password, code: String((Number(right) + 1) % 1_000_000).padStart(6, '0') });
    expect(wrongCode.statusCode).toBe(422);
    expect(wrongCode.json().code).toBe('mfa_verification_failed');
    // Nothing was deleted by the refusals.
    expect((await inject('GET', '/me', aal2)).statusCode).toBe(200);

    const done = await inject('DELETE', '/me', aal2, { password: user.password, code: await codeAt(factor.secret, 1) });
    expect(done.statusCode).toBe(204);
    const [left] = await t.database.db.execute<{ factors: number; codes: number }>(
      `select (select count(*)::int from mfa_factors where user_id = '${user.id}') as factors,
              (select count(*)::int from mfa_recovery_codes where user_id = '${user.id}') as codes` as never,
    );
    expect(left).toEqual({ factors: 0, codes: 0 });
    // The tombstone keeps no MFA flag (the trigger on mfa_factors cleared it).
    const [flag] = await t.database.db.execute<{ mfa_enabled: boolean }>(`select mfa_enabled from users where id = '${user.id}'` as never);
    expect(flag!.mfa_enabled).toBe(false);
    expect((await inject('GET', '/me', aal2)).statusCode).toBe(401);
  });
});

describe('MFA security notices', () => {
  it('a factor that becomes active and one that is removed each mail the owner, with no secret', async () => {
    const user = await registerUser(t.app);
    // Enrolment alone (an unverified factor guards nothing) sends no notice.
    const pending = await inject('POST', '/mfa/totp', user.accessToken, { friendly_name: 'pending' });
    expect(pending.statusCode).toBe(201);
    expect(noticesTo(user.email, 'A sign-in factor was added')).toHaveLength(0);

    const { factor, aal2 } = await enrolAndVerify(user, 'Work phone');
    await expect.poll(() => noticesTo(user.email, 'A sign-in factor was added').length).toBe(1);
    const [added] = noticesTo(user.email, 'A sign-in factor was added');
    expect(added!.text).toContain('Work phone');
    expect(added!.text).not.toContain(factor.secret);

    expect((await inject('DELETE', `/mfa/factors/${factor.id}`, aal2)).statusCode).toBe(204);
    await expect.poll(() => noticesTo(user.email, 'A sign-in factor was removed').length).toBe(1);
  });

  it("an admin removing a user's factors mails the user", async () => {
    const user = await registerUser(t.app);
    await enrolAndVerify(user, 'phone');
    const admin = await registerUser(t.app);
    await t.database.db.execute(`update users set role = 'admin' where id = '${admin.id}'` as never);
    const res = await t.app.inject({ method: 'DELETE', url: `/api/v1/admin/users/${user.id}/mfa-factors`, headers: admin.headers });
    expect(res.statusCode).toBe(200);
    await expect.poll(() => noticesTo(user.email, 'A sign-in factor was removed').length).toBe(1);
  });
});
