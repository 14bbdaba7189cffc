import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, TEST_JWT_SECRET, type TestApp } from '../../helpers/app.js';
import { login, randomIp, registerUser } from '../../helpers/auth.js';

let t: TestApp;
// Grace 0: every second presentation is reuse, so the chain is deterministic.
let strict: TestApp;
beforeAll(async () => {
  t = await buildTestApp({ REFRESH_REUSE_GRACE_S: '10' });
  strict = await buildTestApp({ REFRESH_REUSE_GRACE_S: '0' }, { testDb: t.testDb });
});
afterAll(async () => {
  await strict?.close();
  await t?.close();
});

const refresh = (app: TestApp, refresh_token: string) =>
  app.app.inject({ method: 'POST', url: '/api/v1/auth/refresh', remoteAddress: randomIp(), payload: { refresh_token } });
const me = (app: TestApp, token: string) => app.app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: { authorization: `Bearer ${token}` } });

describe('POST /api/v1/auth/refresh', () => {
  it('rotates: a new pair for the same session; the old refresh token is used up', async () => {
    const u = await registerUser(strict.app);
    const res = await refresh(strict, u.refreshToken);
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.refresh_token).not.toBe(u.refreshToken);
    expect(body.user.id).toBe(u.id);
    expect(strict.app.jwt.decode<{ sid: string }>(body.access_token)!.sid).toBe(u.sessionId);
    const [old] = await t.testDb.sql`select used_at, replaced_by from refresh_tokens where session_id = ${u.sessionId} order by id limit 1`;
    expect(old!.used_at).not.toBeNull();
    expect(old!.replaced_by).not.toBeNull();
    expect((await me(strict, body.access_token)).statusCode).toBe(200);
  });

  it('reuse after the grace interval revokes the whole family: 401 refresh_token_reused, then everything is dead', async () => {
    const u = await registerUser(strict.app);
    const first = (await refresh(strict, u.refreshToken)).json();
    const second = (await refresh(strict, first.refresh_token)).json();
    // The attacker replays the very first token.
    const replay = await refresh(strict, u.refreshToken);
    expect(replay.statusCode).toBe(401);
    expect(replay.json().code).toBe('refresh_token_reused');
    // Every token of the family is dead now, including the newest one the victim holds.
    const newest = await refresh(strict, second.refresh_token);
    expect(newest.statusCode).toBe(401);
    expect(newest.json().code).toBe('invalid_refresh_token');
    expect((await me(strict, second.access_token)).json().code).toBe('invalid_token');
    const [session] = await t.testDb.sql`select revoked_at, revoked_reason from sessions where id = ${u.sessionId}`;
    expect(session!.revoked_reason).toBe('refresh_token_reused');
    const [audit] = await t.testDb.sql`select actor_id from audit_logs where action = 'auth.refresh_reuse' and entity_id = ${u.sessionId}`;
    expect(audit!.actor_id).toBe(u.id);
    // Another session of the same user is untouched.
    const other = await login(strict.app, u.email, u.password);
    expect((await refresh(strict, other.json().refresh_token)).statusCode).toBe(200);
  });

  it('inside the grace interval a racing tab gets a fresh token of the same family', async () => {
    const u = await registerUser(t.app);
    const a = await refresh(t, u.refreshToken);
    const b = await refresh(t, u.refreshToken);
    expect(a.statusCode).toBe(200);
    expect(b.statusCode).toBe(200);
    expect(a.json().refresh_token).not.toBe(b.json().refresh_token);
    expect(t.app.jwt.decode<{ sid: string }>(b.json().access_token)!.sid).toBe(u.sessionId);
    expect((await refresh(t, a.json().refresh_token)).statusCode).toBe(200);
    expect((await refresh(t, b.json().refresh_token)).statusCode).toBe(200);
  });

  it('concurrent refreshes of one token: exactly one winner outside the grace interval', async () => {
    const u = await registerUser(strict.app);
    const results = await Promise.all(Array.from({ length: 6 }, () => refresh(strict, u.refreshToken)));
    const codes = results.map((r) => r.statusCode);
    expect(codes.filter((c) => c === 200)).toHaveLength(1);
    // The first loser detects the reuse and revokes the family; later ones find it revoked.
    const losers = results.filter((r) => r.statusCode !== 200).map((r) => r.json().code);
    expect(losers).toContain('refresh_token_reused');
    for (const code of losers) expect(['refresh_token_reused', 'invalid_refresh_token']).toContain(code);
    // A replayed token means it leaked, so the winner's new pair dies with the family.
    const winner = results.find((r) => r.statusCode === 200)!.json();
    expect((await refresh(strict, winner.refresh_token)).json().code).toBe('invalid_refresh_token');
    const [{ n }] = (await t.testDb.sql`select count(*)::int as n from refresh_tokens where session_id = ${u.sessionId}`) as unknown as [{ n: number }];
    expect(n).toBe(2);
  });

  it('401 invalid_refresh_token for unknown, expired and revoked tokens; 400 for a missing one', async () => {
    expect((await refresh(t, 'x'.repeat(43))).json().code).toBe('invalid_refresh_token');
    const expired = await registerUser(t.app);
    await t.testDb.sql`update sessions set expires_at = now() - interval '1 second' where id = ${expired.sessionId}`;
    const e = await refresh(t, expired.refreshToken);
    expect(e.statusCode).toBe(401);
    expect(e.json().code).toBe('invalid_refresh_token');
    const old = await registerUser(t.app);
    await t.testDb.sql`update refresh_tokens set created_at = now() - interval '31 days' where session_id = ${old.sessionId}`;
    expect((await refresh(t, old.refreshToken)).json().code).toBe('invalid_refresh_token');
    const missing = await t.app.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: {} });
    expect(missing.statusCode).toBe(400);
    expect(missing.json().code).toBe('validation_failed');
  });
});

describe('POST /api/v1/auth/logout', () => {
  it('local: this session’s access and refresh tokens die at once; other sessions live', async () => {
    const u = await registerUser(t.app);
    const other = (await login(t.app, u.email, u.password)).json();
    const res = await t.app.inject({ method: 'POST', url: '/api/v1/auth/logout', headers: u.headers });
    expect(res.statusCode).toBe(204);
    expect((await me(t, u.accessToken)).json().code).toBe('invalid_token');
    expect((await refresh(t, u.refreshToken)).json().code).toBe('invalid_refresh_token');
    expect((await me(t, other.access_token)).statusCode).toBe(200);
    const [audit] = await t.testDb.sql`select changes from audit_logs where action = 'auth.logout' and actor_id = ${u.id}`;
    expect(audit!.changes).toMatchObject({ scope: 'local', revoked: 1 });
  });

  it('global: every session of the user dies', async () => {
    const u = await registerUser(t.app);
    const other = (await login(t.app, u.email, u.password)).json();
    const res = await t.app.inject({ method: 'POST', url: '/api/v1/auth/logout', headers: u.headers, payload: { scope: 'global' } });
    expect(res.statusCode).toBe(204);
    expect((await me(t, u.accessToken)).statusCode).toBe(401);
    expect((await me(t, other.access_token)).statusCode).toBe(401);
    expect((await refresh(t, other.refresh_token)).statusCode).toBe(401);
  });

  it('others: every session but this one dies', async () => {
    const u = await registerUser(t.app);
    const other = (await login(t.app, u.email, u.password)).json();
    const res = await t.app.inject({ method: 'POST', url: '/api/v1/auth/logout', headers: u.headers, payload: { scope: 'others' } });
    expect(res.statusCode).toBe(204);
    expect((await me(t, u.accessToken)).statusCode).toBe(200);
    expect((await me(t, other.access_token)).json().code).toBe('invalid_token');
    expect((await refresh(t, u.refreshToken)).statusCode).toBe(200);
  });

  it('400 for an unknown scope; 401 without a token', async () => {
    const u = await registerUser(t.app);
    const bad = await t.app.inject({ method: 'POST', url: '/api/v1/auth/logout', headers: u.headers, payload: { scope: 'everything' } });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().code).toBe('validation_failed');
    const anon = await t.app.inject({ method: 'POST', url: '/api/v1/auth/logout' });
    expect(anon.json().code).toBe('unauthorized');
  });
});

describe('access token verification', () => {
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const sign = (header: object, payload: object, secret = TEST_JWT_SECRET) => {
    const data = `${b64(header)}.${b64(payload)}`;
    return `${data}.${createHmac('sha256', secret).update(data).digest('base64url')}`;
  };

  it('alg none, wrong secret, tampered payload, expired, wrong or missing exp, issuer or audience → 401 invalid_token', async () => {
    const u = await registerUser(t.app);
    const claims = t.app.jwt.decode<Record<string, unknown>>(u.accessToken)!;
    const now = Math.floor(Date.now() / 1000);
    const [h, , s] = u.accessToken.split('.');
    const tokens = {
      none: `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims)}.`,
      wrongSecret: sign({ alg: 'HS256', typ: 'JWT' }, claims, 'another-secret-that-is-long-enough-0123456789'),
      tampered: `${h}.${b64({ ...claims, role: 'admin' })}.${s}`,
      expired: sign({ alg: 'HS256', typ: 'JWT' }, { ...claims, iat: now - 1000, exp: now - 10 }),
      wrongIssuer: sign({ alg: 'HS256', typ: 'JWT' }, { ...claims, iss: 'someone-else' }),
      wrongAudience: sign({ alg: 'HS256', typ: 'JWT' }, { ...claims, aud: 'service_role' }),
      hs512: `${b64({ alg: 'HS512', typ: 'JWT' })}.${b64(claims)}.${createHmac('sha512', TEST_JWT_SECRET).update(`${b64({ alg: 'HS512', typ: 'JWT' })}.${b64(claims)}`).digest('base64url')}`,
      garbage: 'not.a.jwt',
      // Correctly signed, live session, but a claim the verifier must insist on is missing.
      noExp: sign({ alg: 'HS256', typ: 'JWT' }, { ...claims, exp: undefined }),
      noIss: sign({ alg: 'HS256', typ: 'JWT' }, { ...claims, iss: undefined }),
      noAud: sign({ alg: 'HS256', typ: 'JWT' }, { ...claims, aud: undefined }),
    };
    for (const [name, token] of Object.entries(tokens)) {
      const res = await me(t, token);
      expect(res.statusCode, name).toBe(401);
      expect(res.json().code, name).toBe('invalid_token');
    }
    // The control: the same construction with the right secret and claims is accepted.
    expect((await me(t, sign({ alg: 'HS256', typ: 'JWT' }, claims))).statusCode).toBe(200);
  });

  it('missing or non-bearer Authorization → 401 unauthorized', async () => {
    for (const headers of [{}, { authorization: 'Basic dXNlcjpwYXNz' }, { authorization: 'Bearer' }]) {
      const res = await t.app.inject({ method: 'GET', url: '/api/v1/auth/me', headers });
      expect(res.statusCode).toBe(401);
      expect(res.json().code).toBe('unauthorized');
    }
  });

  it('a disabled user’s access and refresh tokens stop working at once', async () => {
    const u = await registerUser(t.app);
    expect((await me(t, u.accessToken)).statusCode).toBe(200);
    await t.testDb.sql`update users set disabled_at = now() where id = ${u.id}`;
    expect((await me(t, u.accessToken)).json().code).toBe('invalid_token');
    expect((await refresh(t, u.refreshToken)).json().code).toBe('invalid_refresh_token');
  });
});

describe('pruning', () => {
  it('deletes ended sessions, refresh tokens past their TTL, expired one-time tokens and MFA challenges, stale unverified factors; keeps live ones', async () => {
    const { pruneAuthTables } = await import('../../../src/features/auth/sessions.js');
    const live = await registerUser(t.app);
    const ended = await registerUser(t.app);
    const stale = await registerUser(t.app);
    await t.testDb.sql`update sessions set revoked_at = now() - interval '2 days' where id = ${ended.sessionId}`;
    await t.testDb.sql`update refresh_tokens set created_at = now() - interval '40 days' where session_id = ${stale.sessionId}`;
    await t.testDb.sql`update one_time_tokens set expires_at = now() - interval '2 days' where user_id = ${stale.id}`;
    // An MFA factor enrolled two days ago and never verified, with its expired challenge; and a fresh one.
    const headers = { authorization: `Bearer ${stale.accessToken}` };
    const oldFactor = (await t.app.inject({ method: 'POST', url: '/api/v1/auth/mfa/totp', headers, payload: { friendly_name: 'old' } })).json().id as string;
    const newFactor = (await t.app.inject({ method: 'POST', url: '/api/v1/auth/mfa/totp', headers, payload: { friendly_name: 'new' } })).json().id as string;
    expect((await t.app.inject({ method: 'POST', url: `/api/v1/auth/mfa/factors/${newFactor}/challenge`, headers })).statusCode).toBe(201);
    await t.testDb.sql`update mfa_factors set created_at = now() - interval '2 days' where id = ${oldFactor}`;
    await t.testDb.sql`update mfa_challenges set expires_at = now() - interval '2 days' where factor_id = ${newFactor}`;
    const result = await pruneAuthTables(t.app.db, t.config.auth.refreshTokenTtlS);
    expect(result.mfaChallenges).toBeGreaterThanOrEqual(1);
    expect(result.unverifiedFactors).toBeGreaterThanOrEqual(1);
    expect(await t.testDb.sql`select 1 from mfa_factors where id = ${oldFactor}`).toHaveLength(0);
    expect(await t.testDb.sql`select 1 from mfa_factors where id = ${newFactor}`).toHaveLength(1);
    expect(await t.testDb.sql`select 1 from mfa_challenges where factor_id = ${newFactor}`).toHaveLength(0);
    expect(result.sessions).toBeGreaterThanOrEqual(1);
    expect(result.refreshTokens).toBeGreaterThanOrEqual(1);
    expect(result.oneTimeTokens).toBeGreaterThanOrEqual(1);
    expect(await t.testDb.sql`select 1 from sessions where id = ${ended.sessionId}`).toHaveLength(0);
    expect(await t.testDb.sql`select 1 from refresh_tokens where session_id = ${stale.sessionId}`).toHaveLength(0);
    expect(await t.testDb.sql`select 1 from one_time_tokens where user_id = ${stale.id}`).toHaveLength(0);
    expect((await refresh(t, live.refreshToken)).statusCode).toBe(200);
  });
});
