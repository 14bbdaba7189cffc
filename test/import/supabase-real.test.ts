import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import argon2 from 'argon2';
import { hash as bcryptHash } from '@node-rs/bcrypt';
import { FirebaseScrypt } from 'firebase-scrypt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import postgres from 'postgres';
import { runImport, type ImportOptions, type ImportReport } from '../../src/import/run.js';
import { describeDbError } from '../../src/import/source.js';
import { buildTestApp } from '../helpers/app.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { importCli } from '../helpers/supabase-source.js';
import { addGoTrueUser, addTotpFactor, createRealSupabaseSource, type RealSupabaseSource } from '../helpers/supabase-real-source.js';

// The Supabase exit against a source built like a real project (test/fixtures/supabase-*.sql):
// GoTrue's auth schema with RLS on every table, the platform's roles, users as GoTrue writes
// them, and a seed project's public schema. Users here; the data tables in import-supabase-real-data.

let src: RealSupabaseSource;
let target: TestDatabase;
let dir: string;
const ids: Record<string, string> = {};
const ANON_KEY = 'import-real-anon-key-0123456789';
const quiet = { start() {}, tick() {}, stop() {} };
const firebase = { signer_key: randomBytes(64).toString('base64'), salt_separator: 'Bw==', rounds: 8, mem_cost: 14 };

function mappingFile(content: object): string {
  const file = path.join(dir, `mapping-${randomBytes(3).toString('hex')}.json`);
  writeFileSync(file, JSON.stringify(content));
  return file;
}
const profileMapping = { table: 'public.users', columns: { role: 'role', full_name: 'full_name', preferences: 'preferences' } } as const;

function run(extra: Partial<ImportOptions> = {}, lines: string[] = []): Promise<ImportReport> {
  return runImport({ sourceUrl: src.url, targetUrl: target.url, apply: false, only: ['users'], batchSize: 3, out: (l) => lines.push(l), progress: quiet, ...extra });
}

async function firebaseHash(password: string, inline = false): Promise<string> {
  const salt = randomBytes(12).toString('base64');
  const digest = await new FirebaseScrypt({ memCost: firebase.mem_cost, rounds: firebase.rounds, saltSeparator: firebase.salt_separator, signerKey: firebase.signer_key }).hash(password, salt);
  const params = inline ? `,ss=${firebase.salt_separator},sk=${firebase.signer_key}` : '';
  return `$fbscrypt$v=1,n=${firebase.mem_cost},r=${firebase.rounds},p=1${params}$${salt}$${digest}`;
}

beforeAll(async () => {
  [src, target] = await Promise.all([createRealSupabaseSource(), createTestDatabase()]);
  dir = mkdtempSync(path.join(tmpdir(), 'offbase-import-real-'));
  const s = src.sql;
  ids.alice = await addGoTrueUser(s, { email: 'alice@example.com', password: 'alice-password-1', meta: { full_name: 'Alice From Meta' } });
  // The seed's handle_new_user trigger made the profile; the app later promoted Alice there.
  await s`update public.users set role = 'admin', full_name = 'Alice Admin', preferences = ${s.json({ theme: 'dark' })} where id = ${ids.alice}`;
  ids.editor = await addGoTrueUser(s, { email: 'ed@example.com', password: 'editor-password-1' });
  await s`update public.users set role = 'editor' where id = ${ids.editor}`;
  // An older SSO twin that signed in more recently than the person's real password account.
  ids.patSso = await addGoTrueUser(s, { email: 'pat@example.com', provider: 'sso', createdAt: '2022-01-01T00:00:00Z', lastSignIn: '2026-01-01T00:00:00Z' });
  ids.patPassword = await addGoTrueUser(s, { email: 'pat@example.com', password: 'pat-password-12', createdAt: '2023-01-01T00:00:00Z', lastSignIn: '2025-06-01T00:00:00Z' });
  ids.samSso = await addGoTrueUser(s, { email: 'sam@example.com', provider: 'sso', createdAt: '2022-02-02T00:00:00Z' });
  ids.samPassword = await addGoTrueUser(s, { email: 'sam@example.com', password: 'sam-password-12' });
  ids.google = await addGoTrueUser(s, { email: 'gina@gmail.com', provider: 'google' });
  ids.ssoOnly = await addGoTrueUser(s, { email: 'olga@corp.example', provider: 'sso' });
  ids.magic = await addGoTrueUser(s, { email: 'max@example.com' });
  ids.invited = await addGoTrueUser(s, { email: 'ivy@example.com', invited: true });
  ids.anonymous = await addGoTrueUser(s, { provider: 'anonymous', lastSignIn: null });
  ids.phone = await addGoTrueUser(s, { phone: '15551230001', provider: 'phone' });
  ids.deleted = await addGoTrueUser(s, { email: 'gone@example.com', password: 'gone-password-1', deleted: true });
  ids.banned = await addGoTrueUser(s, { email: 'ban@example.com', password: 'ban-password-12', bannedUntil: '2999-01-01T00:00:00Z' });
  ids.unconfirmed = await addGoTrueUser(s, { email: 'una@example.com', password: 'una-password-12', confirmed: false });
  ids.zoe = await addGoTrueUser(s, { email: 'Zoë@Exämple.com', password: 'zoe-password-12' });
  ids.badAddress = await addGoTrueUser(s, { email: 'two@@example.com', password: 'bad-password-12' });
  ids.md5 = await addGoTrueUser(s, { email: 'md5@example.com', hash: '$1$saltsalt$abcdefghijklmnopqrstuv' });
  ids.b2b = await addGoTrueUser(s, { email: 'b2b@example.com', hash: await bcryptHash('b2b-password-12', 10) });
  ids.b2y = await addGoTrueUser(s, { email: 'b2y@example.com', hash: (await bcryptHash('b2y-password-12', 10)).replace(/^\$2b\$/, '$2y$') });
  ids.argon = await addGoTrueUser(s, { email: 'argon@example.com', hash: await argon2.hash('argon-password-1', { type: argon2.argon2id, memoryCost: 19456, timeCost: 2, parallelism: 1 }) });
  ids.firebase = await addGoTrueUser(s, { email: 'fire@example.com', hash: await firebaseHash('fire-password-12') });
  ids.firebaseInline = await addGoTrueUser(s, { email: 'flame@example.com', hash: await firebaseHash('flame-password-1', true) });
  ids.mfa = await addGoTrueUser(s, { email: 'mia@example.com', password: 'mia-password-123' });
  await addTotpFactor(s, ids.mfa, 'verified');
  ids.mfaPending = await addGoTrueUser(s, { email: 'mo@example.com', password: 'mo-password-1234' });
  await addTotpFactor(s, ids.mfaPending, 'unverified');
});

afterAll(async () => {
  await Promise.allSettled([src?.drop(), target?.drop()]);
});

const userCount = async () => (await target.sql<{ n: number }[]>`select count(*)::int as n from users`)[0]!.n;

describe('import-supabase from a real-shaped Supabase project: users', () => {
  it('stops with one line naming the role, the table and the fix when RLS hides auth.users (and data tables)', async () => {
    await expect(run({ sourceUrl: src.readerUrl })).rejects.toThrow(
      new RegExp(`^row level security on auth\\.users hides rows from ${src.readerRole}: connect as a role with BYPASSRLS .* ALTER ROLE ${src.readerRole} BYPASSRLS$`),
    );
    await expect(run({ sourceUrl: src.readerUrl, apply: true })).rejects.toThrow(/^row level security on auth\.users hides rows/);
    // A data table alone (audit logs need no users) is checked the same way.
    const m = mappingFile({ audit_logs: { id: { generate: true, source_id_into: 'changes' } } });
    await expect(run({ sourceUrl: src.readerUrl, only: ['audit_logs'], mappingPath: m })).rejects.toThrow(/^row level security on public\.audit_logs hides rows from /);
    // As the CLI: exit 1, that one line, nothing written.
    const res = await importCli(['--source', src.readerUrl, '--only', 'users'], target.url);
    expect(res.code).toBe(1);
    expect(res.out.trim().split('\n')).toHaveLength(1);
    expect(res.out).toMatch(/^offbase: row level security on auth\.users hides rows from /);
    expect(res.out).not.toContain(src.password);
    expect(await userCount()).toBe(0);
    // Behind the check, the source session's row_security=off turns any filtering RLS would
    // still do into an error (never fewer rows), reported the same way.
    const reader = postgres(src.readerUrl, { max: 1, onnotice: () => {}, connection: { row_security: 'off' } });
    try {
      const err = await reader`select count(*) from auth.users`.catch((e: unknown) => e);
      expect(describeDbError(err, 'import failed', [src.password], src.readerRole)).toBe(
        `row level security on table users hides rows from ${src.readerRole}: connect as a role with BYPASSRLS (postgres on Supabase) or as the table owner, or run ALTER ROLE ${src.readerRole} BYPASSRLS`,
      );
    } finally {
      await reader.end();
    }
  }, 60_000);

  it('the dry run (as the BYPASSRLS postgres role) accounts for every user by kind, and predicts the MFA refusal', async () => {
    const lines: string[] = [];
    const reportPath = path.join(dir, 'dry.json');
    await expect(run({ reportPath }, lines)).rejects.toThrow(/^--apply would refuse: 1 user\(s\) have verified MFA factors .*--allow-mfa-downgrade/);
    const u = (JSON.parse(readFileSync(reportPath, 'utf8')) as ImportReport).plan.users!;
    expect(u.source_rows).toBe(25);
    expect(u.skipped).toEqual({ deleted: 1, anonymous: 1, phone_only: 1, invalid_email: 1, email_collision: 2 });
    const listed = (kind: keyof typeof u.accounts) => u.accounts[kind]!.users.map((x) => x.email ?? x.phone ?? x.id).sort();
    expect(listed('phone_only')).toEqual(['15551230001']);
    expect(listed('anonymous')).toEqual([ids.anonymous]);
    expect(u.accounts.deleted).toMatchObject({ count: 1, imported: false, users: [{ id: ids.deleted, email: null }] });
    expect(listed('invalid_email')).toEqual(['two@@example.com']);
    expect(listed('sso_only')).toEqual(['olga@corp.example']);
    expect(listed('oauth_only')).toEqual(['gina@gmail.com']);
    expect(listed('magic_link_or_invited')).toEqual(['ivy@example.com', 'max@example.com']);
    expect(listed('unconfirmed')).toEqual(['ivy@example.com', 'una@example.com']);
    expect(listed('banned')).toEqual(['ban@example.com']);
    expect(listed('unusable_hash')).toEqual(['md5@example.com']);
    expect(listed('firebase_needs_reset')).toEqual(['fire@example.com']);
    expect(listed('mfa')).toEqual(['mia@example.com']);
    expect(u.accounts.oauth_only!.imported).toBe(true);
    // Shared addresses: the account with a password keeps it, though the SSO twin is older and signed in later.
    expect(u.email_collisions).toEqual([
      { email: 'pat@example.com', ids: [ids.patSso, ids.patPassword], kept: ids.patPassword, why: 'the only one with a password' },
      { email: 'sam@example.com', ids: [ids.samSso, ids.samPassword], kept: ids.samPassword, why: 'the only one with a password' },
    ]);
    const text = lines.join('\n');
    expect(text).toContain(`shared address pat@example.com: ${ids.patSso}, ${ids.patPassword}; keeping ${ids.patPassword} (the only one with a password)`);
    expect(text).toMatch(/phone_only 1 skipped: phone-only customers.*: 15551230001/);
    expect(text).toMatch(/firebase_needs_reset 1 imported: .*needs reset: fire@example\.com/);
    expect(text).toMatch(/unusable_hash 1 imported: .*: md5@example\.com/);
    expect(text).toMatch(/mfa 1 imported: .*: mia@example\.com/);
    expect(text).not.toMatch(/\$2a\$|\$fbscrypt\$|alice-password/);
    expect(await userCount()).toBe(0);
    // With the downgrade accepted the dry run has nothing left to refuse.
    await expect(run({ allowMfaDowngrade: true })).resolves.toMatchObject({ refusals: [] });
  });

  it('--apply refuses MFA users without --allow-mfa-downgrade, before writing anything', async () => {
    await expect(run({ apply: true })).rejects.toThrow(/^--apply refused: 1 user\(s\) have verified MFA factors/);
    expect(await userCount()).toBe(0);
  });

  it('--apply with the mapping file: profile roles and preferences, a per-address override, Firebase hashes usable', async () => {
    const mappingPath = mappingFile({
      users: { keep: { 'sam@example.com': ids.samSso }, profile: { ...profileMapping, transforms: { role: { values: { editor: 'user' } } } }, firebase_scrypt: firebase },
    });
    const r = await run({ apply: true, allowMfaDowngrade: true, mappingPath });
    expect(r.validation!.ok).toBe(true);
    const u = r.plan.users!;
    expect(u.email_collisions.find((c) => c.email === 'sam@example.com')).toMatchObject({ kept: ids.samSso, why: 'chosen in the mapping file (users.keep)' });
    expect(u.accounts.firebase_needs_reset).toBeUndefined();
    expect(u.accounts.role_unmapped).toBeUndefined();
    const rows = await target.sql<{ id: string; email: string; role: string; full_name: string | null; preferences: object; password_hash: string | null }[]>`
      select id::text, email, role, full_name, preferences, password_hash from users`;
    const by = new Map(rows.map((x) => [x.id, x]));
    expect(by.get(ids.alice!)).toMatchObject({ role: 'admin', full_name: 'Alice Admin', preferences: { theme: 'dark' } });
    expect(by.get(ids.editor!)).toMatchObject({ role: 'user' });
    expect(by.has(ids.patPassword!) && !by.has(ids.patSso!)).toBe(true);
    expect(by.has(ids.samSso!) && !by.has(ids.samPassword!)).toBe(true);
    expect(by.get(ids.zoe!)!.email).toBe('zoë@exämple.com');
    expect(by.get(ids.md5!)!.password_hash).toBeNull();
    for (const k of ['deleted', 'anonymous', 'phone', 'badAddress']) expect(by.has(ids[k]!), k).toBe(false);
  });

  it('every kept format signs in and becomes argon2id; zoë can log in and ask for a reset', async () => {
    const t = await buildTestApp({ OFFBASE_ANON_KEY: ANON_KEY }, { testDb: target });
    try {
      const login = (email: string, password: string) => t.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email, password } });
      for (const [email, password, id] of [
        ['alice@example.com', 'alice-password-1', ids.alice],
        ['pat@example.com', 'pat-password-12', ids.patPassword],
        ['Zoë@exämple.com', 'zoe-password-12', ids.zoe],
        ['b2b@example.com', 'b2b-password-12', ids.b2b],
        ['b2y@example.com', 'b2y-password-12', ids.b2y],
        ['argon@example.com', 'argon-password-1', ids.argon],
        ['fire@example.com', 'fire-password-12', ids.firebase],
        ['flame@example.com', 'flame-password-1', ids.firebaseInline],
      ] as const) {
        expect((await login(email, 'not-the-password')).statusCode, email).toBe(401);
        const res = await login(email, password);
        expect(res.statusCode, `${email}: ${res.body}`).toBe(200);
        expect(res.json().user.id).toBe(id);
        const [row] = await target.sql<{ h: string }[]>`select password_hash as h from users where id = ${id!}`;
        expect(row!.h, email).toMatch(/^\$argon2id\$/);
      }
      const forgot = await t.app.inject({ method: 'POST', url: '/api/v1/auth/password/forgot', payload: { email: 'zoë@exämple.com' } });
      expect(forgot.statusCode).toBe(202);
      // The compat surface (supabase-js) shares the rule.
      const compat = await t.app.inject({ method: 'POST', url: '/auth/v1/token?grant_type=password', headers: { apikey: ANON_KEY }, payload: { email: 'zoë@exämple.com', password: 'zoe-password-12' } });
      expect(compat.statusCode, compat.body).toBe(200);
      expect(t.logs.join('')).not.toMatch(/fire-password-12|\$fbscrypt\$|\$argon2id\$/);
    } finally {
      await t.close();
    }
  }, 60_000);
});

