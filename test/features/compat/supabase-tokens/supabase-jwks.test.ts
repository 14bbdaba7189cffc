import { constants, KeyObject, randomUUID, sign as nodeSign } from 'node:crypto';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sessions, users } from '../../../../src/db/schema/index.js';
import { SupabaseJwks } from '../../../../src/features/compat/supabase-tokens/jwks.js';
import { buildTestApp, type TestApp } from '../../../helpers/app.js';
import { createTestDatabase } from '../../../helpers/db.js';

// Cut-over with the old project's asymmetric signing keys (SUPABASE_JWKS): inline, file and URL.

const ISS = 'https://abcdefgh.supabase.co/auth/v1';
const now = () => Math.floor(Date.now() / 1000);

interface Signer {
  kid: string;
  alg: 'ES256' | 'RS256';
  privateKey: CryptoKey;
  jwk: JWK;
}
async function signer(alg: 'ES256' | 'RS256', declareAlg = true): Promise<Signer> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const kid = randomUUID();
  const jwk = { ...(await exportJWK(publicKey)), kid, use: 'sig', ...(declareAlg ? { alg } : {}) };
  return { kid, alg, privateKey, jwk };
}

/** The claims GoTrue puts in a user access token. */
const goTrueClaims = (sub: string, extra: Record<string, unknown> = {}) => ({
  sub,
  role: 'authenticated',
  aud: 'authenticated',
  email: 'someone@example.com',
  session_id: randomUUID(),
  aal: 'aal1',
  amr: [{ method: 'password', timestamp: now() - 60 }],
  is_anonymous: false,
  iss: ISS,
  iat: now() - 5,
  exp: now() + 3600,
  ...extra,
});

async function sign(s: Signer, claims: Record<string, unknown>, header: Record<string, unknown> = {}) {
  return new SignJWT(claims).setProtectedHeader({ alg: s.alg, kid: s.kid, typ: 'JWT', ...header }).sign(s.privateKey);
}

/** A PS256 token made with an RSA key, as an attacker would try on a key pinned to RS256. */
function pss(s: Signer, claims: Record<string, unknown>) {
  const enc = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const body = `${enc({ alg: 'PS256', kid: s.kid, typ: 'JWT' })}.${enc(claims)}`;
  const key = KeyObject.from(s.privateKey as unknown as Parameters<typeof KeyObject.from>[0]);
  return `${body}.${nodeSign('sha256', Buffer.from(body), { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }).toString('base64url')}`;
}

const extend = (app: TestApp['app']) => {
  app.get('/test/me', { preHandler: app.authenticate }, async (req) => ({ sub: req.user.sub, role: req.user.role, sid: req.user.sid }));
};

let es: Signer;
let rs: Signer;
let rsNoAlg: Signer;
let rotated: Signer;
let inline: TestApp;
let fromFile: TestApp;
let fromUrl: TestApp;
let server: Server;
let served: JWK[];
let fetches = 0;
let userId: string;
let disabledId: string;
let revokedId: string;

const me = (t: TestApp, token: string) => t.app.inject({ method: 'GET', url: '/test/me', headers: { authorization: `Bearer ${token}` } });

beforeAll(async () => {
  [es, rs, rsNoAlg, rotated] = await Promise.all([signer('ES256'), signer('RS256'), signer('RS256', false), signer('ES256')]);
  served = [es.jwk, rs.jwk];
  server = createServer((req, res) => {
    fetches++;
    if (req.url !== '/auth/v1/.well-known/jwks.json') return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: served }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/auth/v1/.well-known/jwks.json`;
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'offbase-jwks-')), 'jwks.json');
  writeFileSync(file, JSON.stringify({ keys: [es.jwk, rs.jwk, rsNoAlg.jwk] }));

  const testDb = await createTestDatabase();
  inline = await buildTestApp({ SUPABASE_JWKS: JSON.stringify({ keys: [es.jwk, rs.jwk, rsNoAlg.jwk] }), SUPABASE_JWT_ISSUER: ISS }, { extend, testDb });
  fromFile = await buildTestApp({ SUPABASE_JWKS: file }, { extend, testDb });
  fromUrl = await buildTestApp({ SUPABASE_JWKS: url, SUPABASE_JWT_ISSUER: ISS }, { extend, testDb });
  const rows = await inline.app.db
    .insert(users)
    .values([{ email: 'jwks-user@example.com' }, { email: 'jwks-disabled@example.com', disabled_at: new Date().toISOString() }, { email: 'jwks-revoked@example.com' }])
    .returning({ id: users.id });
  [userId, disabledId, revokedId] = rows.map((r) => r.id) as [string, string, string];
});
afterAll(async () => {
  await Promise.all([inline?.close(), fromFile?.close(), fromUrl?.close()]);
  await new Promise((resolve) => server?.close(resolve));
});

describe('Supabase tokens signed with the JWKS keys', () => {
  it('accepts ES256 and RS256 tokens with the claims GoTrue issues, inline, from a file and from a URL', async () => {
    for (const t of [inline, fromFile, fromUrl]) {
      for (const s of [es, rs]) {
        const res = await me(t, await sign(s, goTrueClaims(userId)));
        expect(res.statusCode, res.body).toBe(200);
        expect(res.json()).toMatchObject({ sub: userId, role: 'user' });
      }
    }
    // A key without `alg` is pinned to the one its type implies (RSA: RS256).
    expect((await me(inline, await sign(rsNoAlg, goTrueClaims(userId)))).statusCode).toBe(200);
  });

  it('refuses wrong kid, wrong or confused alg, none, expired, wrong iss or aud, anon/service roles, unknown and disabled users', async () => {
    const other = await signer('ES256');
    const hsWithPublicKey = (() => {
      const enc = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
      return `${enc({ alg: 'HS256', kid: rs.kid, typ: 'JWT' })}.${enc(goTrueClaims(userId))}.c2lnbmF0dXJl`;
    })();
    const none = (() => {
      const enc = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
      return `${enc({ alg: 'none', kid: es.kid })}.${enc(goTrueClaims(userId))}.`;
    })();
    const bad = [
      await sign(other, goTrueClaims(userId)), // a kid the JWKS does not have
      await sign({ ...other, kid: es.kid }, goTrueClaims(userId)), // the right kid, another key
      await sign({ ...rs, alg: 'RS256' }, goTrueClaims(userId), { kid: es.kid }), // RS256 on the ES256 key
      pss(rsNoAlg, goTrueClaims(userId)), // PS256 on an RS256-pinned key
      hsWithPublicKey,
      none,
      await sign(es, goTrueClaims(userId, { exp: now() - 1 })),
      await sign(es, goTrueClaims(userId, { iss: 'https://other.supabase.co/auth/v1' })),
      await sign(es, goTrueClaims(userId, { aud: 'something-else' })),
      await sign(es, goTrueClaims(userId, { role: 'service_role' })),
      await sign(es, { iss: 'supabase', role: 'anon', iat: now(), exp: now() + 3600 }),
      await sign(es, goTrueClaims(userId, { iat: undefined })),
      await sign(es, goTrueClaims(randomUUID())),
      await sign(es, goTrueClaims(disabledId)),
    ];
    for (const token of bad) {
      const res = await me(inline, token);
      expect(res.statusCode, token).toBe(401);
      expect(res.json().code).toBe('invalid_token');
    }
  });

  it('applies the revocation rules: sessions_revoked_at, and an imported session that ended', async () => {
    const token = await sign(es, goTrueClaims(revokedId, { iat: now() - 120 }));
    expect((await me(inline, token)).statusCode).toBe(200);
    await inline.app.db.update(users).set({ sessions_revoked_at: new Date(Date.now() - 60_000).toISOString() }).where(eqId(revokedId));
    expect((await me(inline, token)).statusCode).toBe(401);

    // The importer keeps Supabase's session ids: revoking that session ends its old access tokens.
    const [session] = await inline.app.db
      .insert(sessions)
      .values({ user_id: userId, expires_at: new Date(Date.now() + 86_400_000).toISOString() })
      .returning({ id: sessions.id });
    const ofSession = await sign(rs, goTrueClaims(userId, { session_id: session!.id }));
    const res = await me(inline, ofSession);
    expect(res.json()).toMatchObject({ sid: session!.id });
    await inline.app.db.update(sessions).set({ revoked_at: new Date().toISOString() }).where(eqSession(session!.id));
    expect((await me(inline, ofSession)).statusCode).toBe(401);
    expect((await me(inline, await sign(rs, goTrueClaims(userId)))).statusCode).toBe(200);
  });

  it('refetches the URL for an unknown kid (key rotation), at most once per cooldown', async () => {
    const before = fetches;
    served = [es.jwk, rs.jwk, rotated.jwk];
    const token = await sign(rotated, goTrueClaims(userId));
    // The boot fetch happened just now: the cooldown holds the refetch back, the key stays unknown.
    expect((await me(fromUrl, token)).statusCode).toBe(401);
    expect(fetches).toBe(before);
    // Inline and file keys are fixed: never fetched.
    expect((await me(inline, token)).statusCode).toBe(401);
  });

  it('a rotated key is fetched on its first token; a flood of unknown kids fetches once per cooldown', async () => {
    const port = (server.address() as AddressInfo).port;
    const jwksUrl = `http://127.0.0.1:${port}/auth/v1/.well-known/jwks.json`;
    served = [es.jwk];
    const noCooldown = await SupabaseJwks.load(jwksUrl, { timeoutMs: 2000, cooldownMs: 0 });
    served = [es.jwk, rotated.jwk];
    expect(await noCooldown.verify(await sign(rotated, goTrueClaims(userId)), 'authenticated', ISS)).toMatchObject({ sub: userId });

    const guarded = await SupabaseJwks.load(jwksUrl, { timeoutMs: 2000, cooldownMs: 60_000 });
    const before = fetches;
    const forged = await Promise.all(Array.from({ length: 20 }, async () => sign(await signer('ES256'), goTrueClaims(userId))));
    for (const token of forged) expect(await guarded.verify(token, 'authenticated', ISS)).toBeNull();
    expect(fetches - before).toBeLessThanOrEqual(1);
  });

  it('gives up on a JWKS URL that does not answer within SUPABASE_JWKS_TIMEOUT_MS', async () => {
    const silent = createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const at = `http://127.0.0.1:${(silent.address() as AddressInfo).port}/jwks.json`;
      await expect(buildTestApp({ SUPABASE_JWKS: at, SUPABASE_JWKS_TIMEOUT_MS: '300' }, { testDb: inline.testDb })).rejects.toThrow(/SUPABASE_JWKS: cannot fetch .*: no answer within 300 ms/);
    } finally {
      silent.closeAllConnections();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it('refuses a JWKS URL that sends more than 1 MiB without reading the rest, and one whose body stalls', async () => {
    // Bounded: the endless body stops after 64 MiB or when the client goes away, whichever is first.
    let sent = 0;
    const big = createServer((req, res) => {
      if (req.url === '/declared') {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(2 * 1_048_576) });
        res.write('{"keys":[');
        return; // declares 2 MiB, sends a few bytes, then nothing
      }
      if (req.url === '/stall') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write('{"keys":[');
        return; // half a body, then silence
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      const chunk = Buffer.alloc(65_536, 0x20);
      const pump = () => {
        while (sent < 64 * 1_048_576 && !res.destroyed) {
          sent += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
        res.end();
      };
      pump();
    });
    await new Promise<void>((resolve) => big.listen(0, '127.0.0.1', resolve));
    try {
      const at = (path: string) => `http://127.0.0.1:${(big.address() as AddressInfo).port}${path}`;
      await expect(buildTestApp({ SUPABASE_JWKS: at('/endless'), SUPABASE_JWKS_TIMEOUT_MS: '10000' }, { testDb: inline.testDb })).rejects.toThrow(/SUPABASE_JWKS: http:\/\/127\.0\.0\.1:\d+\/endless is larger than 1 MiB/);
      // It stopped reading near the limit: what the server got out is the limit plus what the socket buffers held.
      expect(sent).toBeLessThan(16 * 1_048_576);
      await expect(buildTestApp({ SUPABASE_JWKS: at('/declared'), SUPABASE_JWKS_TIMEOUT_MS: '10000' }, { testDb: inline.testDb })).rejects.toThrow(/\/declared is larger than 1 MiB/);
      await expect(buildTestApp({ SUPABASE_JWKS: at('/stall'), SUPABASE_JWKS_TIMEOUT_MS: '300' }, { testDb: inline.testDb })).rejects.toThrow(/SUPABASE_JWKS: cannot fetch .*\/stall: no answer within 300 ms/);
    } finally {
      big.closeAllConnections();
      await new Promise((resolve) => big.close(resolve));
    }
  });

  it('stops the boot with one line for a URL that cannot be fetched, a missing file or a JWKS without usable keys', async () => {
    const port = (server.address() as AddressInfo).port;
    for (const [value, message] of [
      [`http://127.0.0.1:${port}/nope`, /SUPABASE_JWKS: http:\/\/127\.0\.0\.1:\d+\/nope answered 404/],
      ['/nonexistent/jwks.json', /SUPABASE_JWKS: cannot read the file \/nonexistent\/jwks\.json \(ENOENT\)/],
      [JSON.stringify({ keys: [{ kty: 'oct', k: 'c2VjcmV0', kid: 'x' }] }), /no usable public signing key/],
      ['{not json', /SUPABASE_JWKS: the inline value is not JSON/],
    ] as const) {
      await expect(buildTestApp({ SUPABASE_JWKS: value }, { testDb: inline.testDb })).rejects.toThrow(message);
    }
  });
});

const eqId = (id: string) => eq(users.id, id);
const eqSession = (id: string) => eq(sessions.id, id);
