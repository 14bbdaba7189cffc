import { createHash, createHmac, randomBytes, randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { createClient } from '@supabase/supabase-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runImport, type ImportOptions, type ImportReport } from '../../src/import/run.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { addGoTrueUser, createRealSupabaseSource, type RealSupabaseSource } from '../helpers/supabase-real-source.js';

// Nobody logged out by the move: live Supabase sessions and their current refresh tokens (v1
// rows and v2 tokens derived from the session key) come across, and a supabase-js client whose
// stored session came from Supabase keeps working at offbase: refresh → offbase tokens → data.

const ANON_KEY = 'import-sessions-anon-key-0123456789';
const SUPABASE_SECRET = 'super-secret-jwt-token-with-at-least-32-characters-long';
const quiet = { start() {}, tick() {}, stop() {} };

let src: RealSupabaseSource;
let target: TestDatabase;
let app: TestApp;
let url: string;
const ids: Record<string, string> = {};
const tokens: Record<string, string> = {};
const sessionIds: Record<string, string> = {};

function run(extra: Partial<ImportOptions> = {}): Promise<ImportReport> {
  return runImport({ sourceUrl: src.url, targetUrl: target.url, apply: false, only: ['users'], batchSize: 2, out: () => {}, progress: quiet, ...extra });
}

/** GoTrue's v1 refresh token: SecureAlphanumeric(12). */
const v1Token = () => randomBytes(8).toString('hex').slice(0, 12);

/** GoTrue's v2 refresh token for a counter below 128, written out independently of the importer. */
function gotrueV2Token(sessionId: string, counter: number, key: Buffer): string {
  const message = Buffer.concat([Buffer.from([0]), Buffer.from(sessionId.replace(/-/g, ''), 'hex'), Buffer.from([counter])]);
  const signed = Buffer.concat([message, createHmac('sha256', key).update(message).digest().subarray(0, 16)]);
  return Buffer.concat([signed, createHash('sha256').update(signed).digest().subarray(0, 4)]).toString('base64url');
}

async function addSession(userId: string, o: { notAfter?: string; hmacKey?: string; counter?: number } = {}): Promise<string> {
  const id = randomUUID();
  await src.sql`
    insert into auth.sessions (id, user_id, created_at, updated_at, aal, not_after, user_agent, ip, refresh_token_hmac_key, refresh_token_counter)
    values (${id}, ${userId}, now() - interval '3 days', now(), 'aal1', ${o.notAfter ?? null}, 'Mozilla/5.0 (Supabase era)', '203.0.113.7',
            ${o.hmacKey ?? null}, ${o.counter ?? null})`;
  return id;
}
async function addRefreshToken(userId: string, sessionId: string | null, token: string, revoked = false) {
  await src.sql`
    insert into auth.refresh_tokens (instance_id, token, user_id, revoked, created_at, updated_at, parent, session_id)
    values ('00000000-0000-0000-0000-000000000000', ${token}, ${userId}, ${revoked}, now(), now(), '', ${sessionId})`;
}

/** An access token as the old project issued it (HS256, GoTrue's claims). */
function supabaseAccessToken(sub: string, sessionId: string, email: string) {
  const enc = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const body = `${enc({ alg: 'HS256', typ: 'JWT' })}.${enc({
    sub, aud: 'authenticated', role: 'authenticated', email, session_id: sessionId, aal: 'aal1', iss: 'https://abcdefgh.supabase.co/auth/v1',
    iat: now - 60, exp: now + 3000, app_metadata: { provider: 'email', providers: ['email'] }, user_metadata: {}, is_anonymous: false,
  })}`;
  return `${body}.${createHmac('sha256', SUPABASE_SECRET).update(body).digest('base64url')}`;
}

const client = () =>
  createClient(url, ANON_KEY, {
    auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
    realtime: { transport: class {} as never },
  });

beforeAll(async () => {
  [src, target] = await Promise.all([createRealSupabaseSource(), createTestDatabase()]);
  ids.v1 = await addGoTrueUser(src.sql, { email: 'v1@example.com', password: 'v1-password-123' });
  ids.v2 = await addGoTrueUser(src.sql, { email: 'v2@example.com', password: 'v2-password-123' });
  ids.gone = await addGoTrueUser(src.sql, { email: 'gone@example.com', password: 'gone-password-1', deleted: true });

  // v1: a rotated (revoked) token and the current one.
  sessionIds.v1 = await addSession(ids.v1);
  await addRefreshToken(ids.v1, sessionIds.v1, v1Token(), true);
  tokens.v1 = v1Token();
  await addRefreshToken(ids.v1, sessionIds.v1, tokens.v1);
  // A second v1 session, for /api/v1/auth/refresh.
  sessionIds.v1b = await addSession(ids.v1);
  tokens.v1b = v1Token();
  await addRefreshToken(ids.v1, sessionIds.v1b, tokens.v1b);
  // v2: the key and counter in the session; the v1 row it was upgraded from is revoked.
  const key = randomBytes(32);
  sessionIds.v2 = await addSession(ids.v2, { hmacKey: key.toString('base64url'), counter: 3 });
  await addRefreshToken(ids.v2, sessionIds.v2, v1Token(), true);
  tokens.v2 = gotrueV2Token(sessionIds.v2, 3, key);
  // Not carried: past not_after, every token revoked, encrypted v2 key, no session, owner not imported.
  const expired = await addSession(ids.v1, { notAfter: '2024-01-01T00:00:00Z' });
  await addRefreshToken(ids.v1, expired, (tokens.expired = v1Token()));
  const loggedOut = await addSession(ids.v1);
  await addRefreshToken(ids.v1, loggedOut, (tokens.revoked = v1Token()), true);
  await addSession(ids.v2, { hmacKey: JSON.stringify({ key_id: 'k1', alg: 'aes-gcm-hkdf', data: 'AAAA', nonce: 'AAAAAAAAAAAAAAAA' }), counter: 1 });
  await addRefreshToken(ids.v1, null, (tokens.orphan = v1Token()));
  const goneSession = await addSession(ids.gone);
  await addRefreshToken(ids.gone, goneSession, (tokens.gone = v1Token()));

  app = await buildTestApp({ OFFBASE_ANON_KEY: ANON_KEY, SUPABASE_JWT_SECRET: SUPABASE_SECRET, REFRESH_REUSE_GRACE_S: '0' }, { testDb: target });
  await app.app.listen({ host: '127.0.0.1', port: 0 });
  url = `http://127.0.0.1:${(app.app.server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await app?.close();
  await Promise.allSettled([src?.drop(), target?.drop()]);
});

const refreshAt = (path: string, body: object) => app.app.inject({ method: 'POST', url: path, headers: { apikey: ANON_KEY }, payload: body });

describe('import-supabase: live sessions and refresh tokens', () => {
  it('the dry run predicts the sessions and names what cannot be carried', async () => {
    const report = await run();
    expect(report.plan.sessions).toMatchObject({
      live_sessions: 6,
      will_import: 3,
      refresh_tokens: { v1: 2, v2: 1 },
      skipped: { owner_not_imported: 1, no_live_refresh_token: 1, hmac_key_encrypted: 1 },
      not_carried: { tokens_without_session: 1 },
    });
    expect((await target.sql`select 1 from sessions`).length).toBe(0);
  });

  it('--apply imports them hashed, keeping the session ids; a rerun changes nothing', async () => {
    const report = await run({ apply: true });
    expect(report.results.sessions).toMatchObject({ sessions_inserted: 3, refresh_tokens_inserted: 3 });
    const rows = await target.sql<{ id: string; user_id: string }[]>`select id::text, user_id::text from sessions order by id`;
    expect(rows.map((r) => r.id).sort()).toEqual([sessionIds.v1, sessionIds.v1b, sessionIds.v2].sort());
    const hashes = (await target.sql<{ token_hash: string }[]>`select token_hash from refresh_tokens`).map((r) => r.token_hash);
    // Stored as offbase stores its own: the SHA-256, never the token.
    for (const t of [tokens.v1!, tokens.v1b!, tokens.v2!]) {
      expect(hashes).toContain(createHash('sha256').update(t).digest('hex'));
      expect(hashes).not.toContain(t);
    }
    const again = await run({ apply: true });
    expect(again.results.sessions).toMatchObject({ sessions_inserted: 0, refresh_tokens_inserted: 0, refresh_tokens_retired: 0 });
  });

  it('a supabase-js client with a Supabase-issued session keeps working: refresh → offbase tokens → data', async () => {
    for (const who of ['v1', 'v2'] as const) {
      const c = client();
      const email = `${who}@example.com`;
      const set = await c.auth.setSession({ access_token: supabaseAccessToken(ids[who]!, sessionIds[who]!, email), refresh_token: tokens[who]! });
      expect(set.error, who).toBeNull();
      expect(set.data.user?.id).toBe(ids[who]);
      const refreshed = await c.auth.refreshSession();
      expect(refreshed.error, who).toBeNull();
      const session = refreshed.data.session!;
      expect(session.refresh_token).not.toBe(tokens[who]);
      // Rotated into the imported session, with the Supabase id.
      const claims = JSON.parse(Buffer.from(session.access_token.split('.')[1]!, 'base64url').toString()) as { session_id: string };
      expect(claims.session_id).toBe(sessionIds[who]);
      const data = await c.from('documents').select('id');
      expect(data.error, who).toBeNull();
      expect(data.data).toEqual([]);
      // and it rotates on from there.
      const next = await c.auth.refreshSession();
      expect(next.error).toBeNull();
      expect((await c.auth.getUser()).data.user?.email).toBe(email);
    }
  });

  it('reuse detection applies: the Supabase token presented again ends the session and its old access tokens', async () => {
    const res = await refreshAt('/auth/v1/token?grant_type=refresh_token', { refresh_token: tokens.v1 });
    expect(res.statusCode).toBe(400);
    expect(res.json().error_code).toBe('refresh_token_already_used');
    const old = supabaseAccessToken(ids.v1!, sessionIds.v1!, 'v1@example.com');
    const user = await app.app.inject({ method: 'GET', url: '/auth/v1/user', headers: { apikey: ANON_KEY, authorization: `Bearer ${old}` } });
    expect(user.statusCode).toBe(403);
    expect(user.json().error_code).toBe('session_not_found');
  });

  it('/api/v1/auth/refresh takes an imported token too; what was not carried answers as unknown', async () => {
    const ok = await refreshAt('/api/v1/auth/refresh', { refresh_token: tokens.v1b });
    expect(ok.statusCode, ok.body).toBe(200);
    expect(ok.json().refresh_token).toEqual(expect.any(String));
    for (const t of [tokens.expired, tokens.revoked, tokens.orphan, tokens.gone]) {
      const res = await refreshAt('/auth/v1/token?grant_type=refresh_token', { refresh_token: t });
      expect(res.statusCode).toBe(400);
      expect(res.json().error_code).toBe('refresh_token_not_found');
    }
  });

  it('a rerun leaves sessions already used at offbase alone, and retires tokens Supabase rotated since', async () => {
    // Supabase rotated the v1b token after the import... but offbase already rotated that session: left alone.
    const report = await run({ apply: true });
    expect(report.results.sessions!.sessions_left_alone).toBeGreaterThanOrEqual(3);
    // A session never used at offbase follows Supabase's rotation.
    const fresh = await addSession(ids.v2!);
    const first = v1Token();
    await addRefreshToken(ids.v2!, fresh, first);
    await run({ apply: true });
    await src.sql`update auth.refresh_tokens set revoked = true where token = ${first}`;
    const second = v1Token();
    await addRefreshToken(ids.v2!, fresh, second);
    const synced = await run({ apply: true });
    expect(synced.results.sessions).toMatchObject({ refresh_tokens_inserted: 1, refresh_tokens_retired: 1 });
    expect((await refreshAt('/auth/v1/token?grant_type=refresh_token', { refresh_token: first })).statusCode).toBe(400);
    expect((await refreshAt('/auth/v1/token?grant_type=refresh_token', { refresh_token: second })).statusCode).toBe(200);
  });
});
