import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../../src/config.js';
import { jwtKeyRing, keyId } from '../../../src/features/auth/jwt-keys.js';
import { buildTestApp, testEnv, type TestApp } from '../../helpers/app.js';
import { createUserWithToken, type TestUser } from '../../helpers/users.js';

// JWT_SECRET rotation: tokens carry the kid of the key that signed them; the previous keys
// (JWT_PREVIOUS_SECRETS) keep verifying theirs, so rotating logs nobody out.

const OLD = 'old-signing-key-0123456789abcdef-0123456789';
const NEW = 'new-signing-key-0123456789abcdef-0123456789';
const OTHER = 'someone-elses-key-0123456789abcdef-012345';
const ANON_KEY = 'test-anon-key-0123456789abcdef';

let before: TestApp; // JWT_SECRET=OLD
let during: TestApp; // JWT_SECRET=NEW, JWT_PREVIOUS_SECRETS=OLD
let after: TestApp; // JWT_SECRET=NEW
let user: TestUser;

beforeAll(async () => {
  before = await buildTestApp({ JWT_SECRET: OLD });
  during = await buildTestApp({ JWT_SECRET: NEW, JWT_PREVIOUS_SECRETS: ` ${OTHER} , ${OLD} `, OFFBASE_ANON_KEY: ANON_KEY }, { testDb: before.testDb });
  after = await buildTestApp({ JWT_SECRET: NEW }, { testDb: before.testDb });
  user = await createUserWithToken(before.app);
});
afterAll(async () => {
  await after?.close();
  await during?.close();
  await before?.close();
});

const me = (t: TestApp, token: string) => t.app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: { authorization: `Bearer ${token}` } });
const headerOf = (token: string) => JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString()) as { alg: string; kid?: string };
const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** An HS256 token signed by hand, to control the header and the key independently. */
function forge(secret: string, header: Record<string, unknown>, claims: Record<string, unknown>) {
  const body = `${b64({ alg: 'HS256', typ: 'JWT', ...header })}.${b64(claims)}`;
  return `${body}.${createHmac('sha256', secret).update(body).digest('base64url')}`;
}
const claimsOf = (token: string) => JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;

describe('JWT signing keys', () => {
  it('tokens carry the kid of the key that signed them; the kid reveals nothing of the key', () => {
    expect(headerOf(user.token)).toEqual({ alg: 'HS256', typ: 'JWT', kid: keyId(OLD) });
    expect(keyId(OLD)).toMatch(/^[\w-]{16}$/);
    expect(keyId(OLD)).not.toBe(keyId(NEW));
    expect(OLD).not.toContain(keyId(OLD));
  });

  it('during a rotation a token signed with the previous key still verifies; new tokens use the new key', async () => {
    expect((await me(during, user.token)).statusCode).toBe(200);
    const fresh = during.app.jwt.sign({ sub: user.id, role: 'user', email: user.email, sid: user.sessionId });
    expect(headerOf(fresh).kid).toBe(keyId(NEW));
    expect((await me(during, fresh)).statusCode).toBe(200);
    // Before the rotation deploy finishes, old tasks do not know the new key yet: the
    // two-step procedure in docs/deploy-aws.md adds it as a previous key first.
    expect((await me(before, fresh)).statusCode).toBe(401);
  });

  it('on /auth/v1, a previous-key token of an ended session is session_not_found, a foreign one bad_jwt', async () => {
    const ended = await createUserWithToken(before.app);
    await before.testDb.sql`update sessions set revoked_at = now() where id = ${ended.sessionId}`;
    const userOf = (token: string) =>
      during.app.inject({ method: 'GET', url: '/auth/v1/user', headers: { apikey: ANON_KEY, authorization: `Bearer ${token}` } });
    const res = await userOf(ended.token);
    expect(res.statusCode).toBe(403);
    expect(res.json()).toMatchObject({ error_code: 'session_not_found' });
    const foreign = forge(OTHER, { kid: keyId(OLD) }, claimsOf(user.token));
    expect((await userOf(foreign)).json()).toMatchObject({ error_code: 'bad_jwt' });
  });

  it('once the previous key is removed, its tokens are rejected', async () => {
    expect((await me(after, user.token)).statusCode).toBe(401);
  });

  it('the kid selects the key: a token whose signature does not match its kid, or with an unknown kid, is rejected', async () => {
    const claims = claimsOf(user.token);
    expect((await me(during, forge(OLD, { kid: keyId(OLD) }, claims))).statusCode).toBe(200);
    expect((await me(during, forge(OLD, { kid: keyId(NEW) }, claims))).statusCode).toBe(401);
    expect((await me(during, forge(NEW, { kid: keyId(OLD) }, claims))).statusCode).toBe(401);
    expect((await me(during, forge('not-a-key-we-know-0123456789abcdef', { kid: 'unknown-kid' }, claims))).statusCode).toBe(401);
    expect((await me(during, forge(NEW, { kid: 42 }, claims))).statusCode).toBe(401);
  });

  it('a token without a kid (issued before keys had ids) verifies against the current key only', async () => {
    const claims = claimsOf(user.token);
    expect((await me(before, forge(OLD, {}, claims))).statusCode).toBe(200);
    expect((await me(during, forge(OLD, {}, claims))).statusCode).toBe(401);
    expect((await me(during, forge(NEW, {}, claims))).statusCode).toBe(200);
  });

  it('previous keys keep the algorithm, issuer and audience checks', async () => {
    const claims = claimsOf(user.token);
    expect((await me(during, forge(OLD, { kid: keyId(OLD) }, { ...claims, iss: 'someone-else' }))).statusCode).toBe(401);
    expect((await me(during, forge(OLD, { kid: keyId(OLD) }, { ...claims, aud: 'other' }))).statusCode).toBe(401);
    expect((await me(during, forge(OLD, { kid: keyId(OLD) }, { ...claims, exp: Math.floor(Date.now() / 1000) - 60 }))).statusCode).toBe(401);
  });

  it('JWT_PREVIOUS_SECRETS: each key at least 32 bytes; the error never shows a key', () => {
    const load = (value: string) => () => loadConfig(testEnv('postgres://x@127.0.0.1/x', { JWT_PREVIOUS_SECRETS: value }));
    expect(load(`${OLD},short-key`)).toThrow(ConfigError);
    expect(load(`${OLD},short-key`)).toThrow(/^JWT_PREVIOUS_SECRETS must be a comma-separated list of keys of at least 32 bytes each$/);
    expect(load(`${OLD},,${NEW}`)().auth.jwtPreviousSecrets).toEqual([OLD, NEW]);
  });
});

describe('the key ring', () => {
  it('picks the key by kid, the same for a header seen before, and any number of made-up headers', () => {
    const ring = jwtKeyRing(NEW, [OLD]);
    const token = (header: Record<string, unknown>) => `${b64({ alg: 'HS256', ...header })}.${b64({})}.sig`;
    for (let round = 0; round < 2; round++) {
      expect(ring.keyFor(token({ kid: keyId(NEW) }))).toBe(NEW);
      expect(ring.keyFor(token({ kid: keyId(OLD) }))).toBe(OLD);
      expect(ring.keyFor(token({}))).toBe(NEW);
      expect(ring.keyFor(token({ kid: keyId(OTHER) }))).toBeNull();
      expect(ring.keyFor(token({ kid: 7 }))).toBeNull();
    }
    // Past what the ring remembers, headers still resolve, each on its own.
    for (let i = 0; i < 200; i++) expect(ring.keyFor(token({ kid: `made-up-${i}` }))).toBeNull();
    expect(ring.keyFor(token({ kid: keyId(OLD), pad: 'x'.repeat(400) }))).toBe(OLD);
    expect(ring.keyFor(token({ kid: keyId(OLD) }))).toBe(OLD);
    expect(ring.keyFor('not-a-jwt')).toBe(NEW);
  });
});
