import { randomUUID } from 'node:crypto';
import { generate } from 'otplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../../helpers/app.js';
import { login, randomIp, registerUser, type RegisteredUser } from '../../helpers/auth.js';
import { signAccessToken } from '../../helpers/tokens.js';

// TOTP multi-factor on /api/v1: enrolment, challenge → verify, the aal2 gate on data routes,
// replay and rate limits, recovery codes, unenrolment, admin removal, and the audit trail.

let t: TestApp;
beforeAll(async () => {
  t = await buildTestApp({ RATE_LIMIT_MFA_PER_FACTOR: '6', RATE_LIMIT_MFA_PER_USER: '20' });
});
afterAll(async () => {
  await t?.close();
});

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const claims = (jwt: string) => JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
const inject = (method: 'GET' | 'POST' | 'DELETE', url: string, token: string, payload?: object) =>
  t.app.inject({ method, url: `/api/v1/auth${url}`, headers: bearer(token), remoteAddress: '10.9.9.9', ...(payload ? { payload } : {}) });

/** A code for the step after `step` (or the current one): two consecutive accepted codes never share a step. */
const codeAt = (secret: string, offsetSteps = 0) => generate({ secret, epoch: Math.floor(Date.now() / 1000) + offsetSteps * 30 });

async function enrol(user: RegisteredUser, name = 'phone') {
  const res = await inject('POST', '/mfa/totp', user.accessToken, { friendly_name: name });
  expect(res.statusCode).toBe(201);
  return res.json() as { id: string; secret: string; uri: string; qr_code: string; status: string };
}

async function challengeAndVerify(token: string, factorId: string, code: string) {
  const ch = await inject('POST', `/mfa/factors/${factorId}/challenge`, token);
  expect(ch.statusCode).toBe(201);
  return inject('POST', `/mfa/factors/${factorId}/verify`, token, { challenge_id: ch.json().id, code });
}

/** A user with a verified factor; returns the aal2 tokens, the secret and the recovery codes. */
async function mfaUser() {
  const user = await registerUser(t.app);
  const factor = await enrol(user);
  const firstCode = await codeAt(factor.secret);
  const res = await challengeAndVerify(user.accessToken, factor.id, firstCode);
  expect(res.statusCode).toBe(200);
  return { user, factor, firstCode, aal2: res.json().access_token as string, recoveryCodes: res.json().recovery_codes as string[] };
}

/** users.mfa_enabled, which the triggers on mfa_factors keep and the session check reads. */
async function mfaFlag(userId: string): Promise<boolean> {
  const [row] = await t.database.db.execute<{ mfa_enabled: boolean }>(`select mfa_enabled from users where id = '${userId}'` as never);
  return row!.mfa_enabled;
}

async function passwordLogin(user: RegisteredUser) {
  const res = await login(t.app, user.email, user.password);
  expect(res.statusCode).toBe(200);
  return res.json().access_token as string;
}

describe('enrolment', () => {
  it('returns the secret, an otpauth URI and an SVG QR code once; the factor is unverified and changes nothing yet', async () => {
    const user = await registerUser(t.app);
    const factor = await enrol(user, 'Work phone');
    expect(factor).toMatchObject({ type: 'totp', friendly_name: 'Work phone', status: 'unverified' });
    expect(factor.secret).toMatch(/^[A-Z2-7]{16,}$/);
    expect(factor.uri).toMatch(/^otpauth:\/\/totp\/.+\?secret=[A-Z2-7]+/);
    expect(factor.qr_code).toMatch(/^<svg[\s\S]*<\/svg>\s*$/);
    // Never again: not in the list, not in the database in the clear.
    const list = await inject('GET', '/mfa/factors', user.accessToken);
    expect(list.json().data).toEqual([expect.objectContaining({ id: factor.id, status: 'unverified' })]);
    expect(list.body).not.toContain(factor.secret);
    const [row] = await t.database.db.execute<{ secret_ciphertext: string }>(`select secret_ciphertext from mfa_factors where id = '${factor.id}'` as never);
    expect(row!.secret_ciphertext).not.toContain(factor.secret);
    expect(t.logs.join('')).not.toContain(factor.secret);
    // An unverified factor does not gate anything.
    expect(await mfaFlag(user.id)).toBe(false);
    const login2 = await passwordLogin(user);
    expect(claims(login2)).toMatchObject({ aal: 'aal1', amr: [expect.objectContaining({ method: 'password' })] });
    expect((await t.app.inject({ method: 'GET', url: '/api/v1/documents', headers: bearer(login2) })).statusCode).toBe(200);
  });

  it('refuses a duplicate friendly name and bad input with 4xx', async () => {
    const user = await registerUser(t.app);
    await enrol(user, 'same');
    expect((await inject('POST', '/mfa/totp', user.accessToken, { friendly_name: 'same' })).statusCode).toBe(409);
    expect((await inject('POST', '/mfa/totp', user.accessToken, { friendly_name: 'x'.repeat(10_000) })).statusCode).toBe(400);
    expect((await inject('POST', '/mfa/totp', user.accessToken, { ['__proto__']: {}, friendly_name: 'p' } as object)).statusCode).toBe(400);
    expect((await inject('POST', '/mfa/totp', user.accessToken, { constructor: 'x' })).statusCode).toBe(400);
    // A lone surrogate is valid JSON but no otpauth URI (or email) can carry it.
    for (const bad of [{ issuer: '\udfff' }, { friendly_name: 'phone \ud800' }]) {
      const res = await inject('POST', '/mfa/totp', user.accessToken, bad);
      expect(res.statusCode, res.body).toBe(400);
      expect(res.json().code).toBe('validation_failed');
    }
    const ok = await inject('POST', '/mfa/totp', user.accessToken, { friendly_name: 'phone 📱', issuer: 'Acme 😀' });
    expect(ok.statusCode).toBe(201);
  });
});

describe('sign-in with an active factor', () => {
  it('gives an aal1 session that may only complete MFA, list factors and sign out; a valid code upgrades it to aal2', async () => {
    const { user, factor, aal2 } = await mfaUser();
    expect(claims(aal2)).toMatchObject({ aal: 'aal2', amr: expect.arrayContaining([expect.objectContaining({ method: 'totp' })]) });

    const aal1 = await passwordLogin(user);
    expect(claims(aal1).aal).toBe('aal1');
    for (const url of ['/api/v1/documents', '/api/v1/audit-logs', '/api/v1/auth/me', '/api/v1/auth/sessions']) {
      const res = await t.app.inject({ method: 'GET', url, headers: bearer(aal1) });
      expect(res.statusCode, url).toBe(403);
      expect(res.json().code).toBe('mfa_required');
    }
    expect((await inject('POST', '/mfa/totp', aal1, { friendly_name: 'sneaky' })).json().code).toBe('mfa_required');
    expect((await inject('DELETE', `/mfa/factors/${factor.id}`, aal1)).json().code).toBe('mfa_required');
    expect((await inject('GET', '/mfa/factors', aal1)).statusCode).toBe(200);

    const upgraded = await challengeAndVerify(aal1, factor.id, await codeAt(factor.secret, 1));
    expect(upgraded.statusCode).toBe(200);
    expect(upgraded.json().recovery_codes).toBeNull();
    const token = upgraded.json().access_token as string;
    expect(claims(token)).toMatchObject({ aal: 'aal2', sid: claims(aal1).sid });
    expect((await t.app.inject({ method: 'GET', url: '/api/v1/documents', headers: bearer(token) })).statusCode).toBe(200);
    // The refresh token of the password step is retired; the new one keeps aal2.
    const refreshed = await t.app.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: { refresh_token: upgraded.json().refresh_token } });
    expect(claims(refreshed.json().access_token).aal).toBe('aal2');
    // Sign-out works at aal1 too.
    const other = await passwordLogin(user);
    expect((await inject('POST', '/logout', other)).statusCode).toBe(204);
  });

  it('refuses a wrong code, a replayed code and a used challenge with 422', async () => {
    const { user, factor, firstCode } = await mfaUser();
    const aal1 = await passwordLogin(user);
    const wrong = await challengeAndVerify(aal1, factor.id, firstCode === '000000' ? '111111' : '000000');
    expect(wrong.statusCode).toBe(422);
    expect(wrong.json().code).toBe('mfa_verification_failed');
    // The code that verified the factor was accepted once: the same step is refused now.
    const replay = await challengeAndVerify(aal1, factor.id, firstCode);
    expect(replay.statusCode).toBe(422);
    const code = await codeAt(factor.secret, 1);
    const ch = await inject('POST', `/mfa/factors/${factor.id}/challenge`, aal1);
    expect((await inject('POST', `/mfa/factors/${factor.id}/verify`, aal1, { challenge_id: ch.json().id, code })).statusCode).toBe(200);
    expect((await inject('POST', `/mfa/factors/${factor.id}/verify`, aal1, { challenge_id: ch.json().id, code })).json().code).toBe('mfa_challenge_expired');
    const audit = await t.database.db.execute<{ action: string; changes: { reason?: string } }>(
      `select action, changes from audit_logs where actor_id = '${user.id}' and action like 'mfa.%' order by id` as never,
    );
    const actions = audit.map((r) => r.action);
    expect(actions).toEqual(expect.arrayContaining(['mfa.enroll', 'mfa.challenge', 'mfa.verify', 'mfa.verify_failed']));
    expect(audit.filter((r) => r.action === 'mfa.verify_failed').map((r) => r.changes.reason)).toEqual(expect.arrayContaining(['wrong_code', 'replayed_code']));
  });

  it("another user's factor id answers 404", async () => {
    const { factor } = await mfaUser();
    const stranger = await registerUser(t.app);
    expect((await inject('POST', `/mfa/factors/${factor.id}/challenge`, stranger.accessToken)).statusCode).toBe(404);
    expect((await inject('DELETE', `/mfa/factors/${factor.id}`, stranger.accessToken)).statusCode).toBe(404);
  });

  it('rate limits wrong codes per factor with 429 and Retry-After', async () => {
    const { user, factor } = await mfaUser();
    const aal1 = await passwordLogin(user);
    const statuses: number[] = [];
    let last;
    for (let i = 0; i < 8; i++) {
      last = await challengeAndVerify(aal1, factor.id, '000000');
      statuses.push(last.statusCode);
    }
    expect(statuses).toContain(429);
    expect(last!.statusCode).toBe(429);
    expect(Number(last!.headers['retry-after'])).toBeGreaterThan(0);
  });
});

describe('recovery codes', () => {
  it('ten, shown once, single use; regenerating invalidates the old set', async () => {
    const { user, aal2, recoveryCodes } = await mfaUser();
    expect(recoveryCodes).toHaveLength(10);
    expect(new Set(recoveryCodes).size).toBe(10);
    const rows = await t.database.db.execute<{ code_hash: string }>(`select code_hash from mfa_recovery_codes where user_id = '${user.id}'` as never);
    expect(rows.map((r) => r.code_hash)).not.toContain(recoveryCodes[0]);

    const aal1 = await passwordLogin(user);
    const ok = await inject('POST', '/mfa/recovery', aal1, { code: recoveryCodes[0] });
    expect(ok.statusCode).toBe(200);
    expect(claims(ok.json().access_token)).toMatchObject({ aal: 'aal2' });
    const again = await inject('POST', '/mfa/recovery', await passwordLogin(user), { code: recoveryCodes[0] });
    expect(again.statusCode).toBe(422);

    const regen = await inject('POST', '/mfa/recovery-codes', aal2);
    expect(regen.statusCode).toBe(200);
    expect(regen.json().codes).toHaveLength(10);
    expect((await inject('POST', '/mfa/recovery', await passwordLogin(user), { code: recoveryCodes[1] })).statusCode).toBe(422);
    expect((await inject('POST', '/mfa/recovery', await passwordLogin(user), { code: regen.json().codes[0] })).statusCode).toBe(200);
  });
});

describe('unenrolment', () => {
  it('needs aal2; afterwards the user signs in with the password alone', async () => {
    const { user, factor, aal2 } = await mfaUser();
    // Verifying the factor switched the flag on.
    expect(await mfaFlag(user.id)).toBe(true);
    expect((await inject('DELETE', `/mfa/factors/${factor.id}`, aal2)).statusCode).toBe(204);
    expect(await mfaFlag(user.id)).toBe(false);
    const plain = await passwordLogin(user);
    expect((await t.app.inject({ method: 'GET', url: '/api/v1/documents', headers: bearer(plain) })).statusCode).toBe(200);
  });

  it('takes the sessions the removed factor raised back to aal1 at once; sessions another factor raised keep aal2', async () => {
    const { user, factor: a, aal2: first } = await mfaUser();
    // A second factor, verified from the first session: that session now rests on b.
    const b = await enrol({ ...user, accessToken: first }, 'tablet');
    const verifiedB = await challengeAndVerify(first, b.id, await codeAt(b.secret));
    expect(verifiedB.statusCode).toBe(200);
    const byB = verifiedB.json().access_token as string;
    // Another device raised by a.
    const raisedA = await challengeAndVerify(await passwordLogin(user), a.id, await codeAt(a.secret, 1));
    expect(raisedA.statusCode).toBe(200);
    const byA = raisedA.json().access_token as string;
    const documents = (token: string) => t.app.inject({ method: 'GET', url: '/api/v1/documents', headers: bearer(token) });
    expect((await documents(byA)).statusCode).toBe(200);

    expect((await inject('DELETE', `/mfa/factors/${a.id}`, byB)).statusCode).toBe(204);
    // MFA is still on (b): the session a raised is aal1 on its very next request, token unchanged.
    const refused = await documents(byA);
    expect(refused.statusCode).toBe(403);
    expect(refused.json().code).toBe('mfa_required');
    expect((await documents(byB)).statusCode).toBe(200);
    // Its refresh token now gives aal1 tokens without the totp entry; b raises it again.
    const refreshed = await t.app.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: { refresh_token: raisedA.json().refresh_token } });
    expect(refreshed.statusCode).toBe(200);
    expect(claims(refreshed.json().access_token)).toMatchObject({ aal: 'aal1', amr: [expect.objectContaining({ method: 'password' })] });
    const again = await challengeAndVerify(refreshed.json().access_token, b.id, await codeAt(b.secret, 1));
    expect(again.statusCode).toBe(200);
    expect((await documents(again.json().access_token)).statusCode).toBe(200);
  });

  it('with the last factor gone no session stays aal2 (a recovery code’s neither), so a new factor ends them all', async () => {
    const { user, factor, aal2, recoveryCodes } = await mfaUser();
    const recovered = await inject('POST', '/mfa/recovery', await passwordLogin(user), { code: recoveryCodes[0] });
    expect(recovered.statusCode).toBe(200);
    const byRecovery = recovered.json().access_token as string;

    expect((await inject('DELETE', `/mfa/factors/${factor.id}`, aal2)).statusCode).toBe(204);
    const rows = await t.database.db.execute<{ aal: string }>(`select aal from sessions where user_id = '${user.id}' and revoked_at is null` as never);
    // Two live sessions (the one the factor raised, the recovery code's), neither aal2.
    expect(rows.map((r) => r.aal)).toEqual(['aal1', 'aal1']);
    // MFA is off, so aal1 reaches data...
    expect((await t.app.inject({ method: 'GET', url: '/api/v1/documents', headers: bearer(byRecovery) })).statusCode).toBe(200);
    // ...until a new first factor switches it on: that ends every other aal1 session, the
    // recovery code's included (before 0010 it kept aal2 and passed the new factor untested).
    const fresh = await enrol({ ...user, accessToken: aal2 }, 'new phone');
    expect((await challengeAndVerify(aal2, fresh.id, await codeAt(fresh.secret))).statusCode).toBe(200);
    expect((await t.app.inject({ method: 'GET', url: '/api/v1/documents', headers: bearer(byRecovery) })).statusCode).toBe(401);
  });

  it('an admin can remove a user’s factors (audited)', async () => {
    const { user, aal2 } = await mfaUser();
    const adminUser = await registerUser(t.app);
    await t.database.db.execute(`update users set role = 'admin' where id = '${adminUser.id}'` as never);
    const res = await t.app.inject({ method: 'DELETE', url: `/api/v1/admin/users/${user.id}/mfa-factors`, headers: adminUser.headers });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ removed: 1 });
    expect(await mfaFlag(user.id)).toBe(false);
    // The user's raised session is back at aal1 (it reaches data: MFA is off).
    const [session] = await t.database.db.execute<{ aal: string }>(`select aal from sessions where id = '${claims(aal2).sid}'` as never);
    expect(session!.aal).toBe('aal1');
    expect((await t.app.inject({ method: 'DELETE', url: `/api/v1/admin/users/${user.id}/mfa-factors`, headers: user.headers })).statusCode).toBe(403);
    const [row] = await t.database.db.execute<{ actor_id: string }>(`select actor_id from audit_logs where action = 'admin.mfa_factors_remove' and entity_id = '${user.id}'` as never);
    expect(row!.actor_id).toBe(adminUser.id);
    const plain = await passwordLogin(user);
    expect((await t.app.inject({ method: 'GET', url: '/api/v1/documents', headers: bearer(plain) })).statusCode).toBe(200);
  });
});

describe("a user's sessions", () => {
  it('lists own sessions with the current flag; DELETE signs that device out at once; revoke-others ends the rest', async () => {
    const user = await registerUser(t.app, { remoteAddress: randomIp() });
    const second = await passwordLogin(user);
    const third = await passwordLogin(user);
    const list = await inject('GET', '/sessions', user.accessToken);
    expect(list.statusCode).toBe(200);
    const data = list.json().data as { id: string; current: boolean; aal: string; ip: string | null; last_used_at: string }[];
    expect(data).toHaveLength(3);
    expect(data.filter((s) => s.current).map((s) => s.id)).toEqual([user.sessionId]);
    expect(data.every((s) => s.aal === 'aal1' && s.last_used_at)).toBe(true);

    const secondSid = claims(second).sid as string;
    expect((await inject('DELETE', `/sessions/${secondSid}`, user.accessToken)).statusCode).toBe(204);
    expect((await t.app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: bearer(second) })).statusCode).toBe(401);
    expect((await inject('DELETE', `/sessions/${secondSid}`, user.accessToken)).statusCode).toBe(404);

    // Another user's session id: 404, and it stays alive.
    const stranger = await registerUser(t.app);
    expect((await inject('DELETE', `/sessions/${claims(third).sid}`, stranger.accessToken)).statusCode).toBe(404);
    expect((await t.app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: bearer(third) })).statusCode).toBe(200);
    expect((await inject('DELETE', '/sessions/not-a-uuid', user.accessToken)).statusCode).toBe(400);

    const others = await inject('POST', '/sessions/revoke-others', user.accessToken);
    expect(others.json()).toEqual({ revoked: 1 });
    expect((await t.app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: bearer(third) })).statusCode).toBe(401);
    expect((await t.app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: user.headers })).statusCode).toBe(200);
  });
});

describe('Supabase cut-over tokens', () => {
  it('carry no offbase aal: a user with a second factor must sign in and complete MFA; others are unaffected', async () => {
    const secret = 'old-supabase-project-jwt-secret-0123456789';
    const cutover = await buildTestApp({ SUPABASE_JWT_SECRET: secret }, { testDb: t.testDb });
    try {
      const { user } = await mfaUser();
      const plain = await registerUser(t.app);
      const tokenOf = (u: RegisteredUser) => signAccessToken({ sub: u.id, role: 'authenticated', email: u.email, sid: randomUUID() }, secret, { issuer: 'supabase' });
      const get = (token: string) => cutover.app.inject({ method: 'GET', url: '/api/v1/documents', headers: bearer(token) });
      expect((await get(tokenOf(plain))).statusCode).toBe(200);
      const refused = await get(tokenOf(user));
      expect(refused.statusCode).toBe(403);
      expect(refused.json().code).toBe('mfa_required');
    } finally {
      await cutover.app.close();
      await cutover.database.close();
    }
  });
});
