import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runImport, type ImportOptions, type ImportReport } from '../../src/import/run.js';
import { buildTestApp } from '../helpers/app.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { createSupabaseSource, importCli, insertAuthUser, SOURCE_MAPPING, type SupabaseSource } from '../helpers/supabase-source.js';

// The Supabase exit end to end: a stand-in Supabase database, a migrated offbase database,
// dry run → apply → second run → validation of a damaged target, in process and as the CLI.

let src: SupabaseSource;
let target: TestDatabase;
let mappingPath: string;
let dir: string;
type UserKey = 'alice' | 'bob' | 'carol' | 'magic' | 'dave' | 'erin' | 'frank' | 'graceOld' | 'graceNew' | 'phone';
type DocKey = 'a1' | 'a2' | 'a3' | 'b1' | 'd1' | 'd2' | 'g1' | 'orphan';
const ids = {} as Record<UserKey, string>;
const docs = {} as Record<DocKey, string>;

const quiet = { start() {}, tick() {}, stop() {} };
function run(extra: Partial<ImportOptions> = {}): Promise<ImportReport> {
  const lines: string[] = [];
  return runImport({
    sourceUrl: src.url,
    targetUrl: target.url,
    apply: false,
    only: ['users', 'documents', 'analyses', 'audit_logs'],
    batchSize: 2,
    mappingPath,
    out: (l) => lines.push(l),
    progress: quiet,
    ...extra,
  });
}

async function doc(owner: string, title: string, extra: { content?: string } = {}) {
  const [row] = await src.sql<{ id: string }[]>`
    insert into public.documents (user_id, title, description, status, storage_path, content_type, size_bytes, content_text, tags, metadata, analysis_count, created_at, updated_at)
    values (${owner}, ${title}, 'd', 'ready', ${`${owner}/${title}.pdf`}, 'application/pdf', 1234, ${extra.content ?? 'hello world'},
      ${['a', 'b']}, ${src.sql.json({ pages: 3 })}, 7, '2024-02-02T02:02:02.222222Z', '2024-03-03T03:03:03.333333Z')
    returning id::text`;
  return row!.id;
}

beforeAll(async () => {
  [src, target] = await Promise.all([createSupabaseSource(), createTestDatabase()]);
  dir = mkdtempSync(path.join(tmpdir(), 'offbase-import-'));
  mappingPath = path.join(dir, 'mapping.json');
  writeFileSync(mappingPath, JSON.stringify(SOURCE_MAPPING));
  const s = src.sql;
  ids.alice = await insertAuthUser(s, { email: 'Alice@Example.com ', password: 'alice-password-1', meta: { sub: 'x', email: 'alice@example.com', email_verified: true, phone_verified: false, full_name: 'Alice A', avatar_url: 'https://x/a.png' } });
  ids.bob = await insertAuthUser(s, { email: 'bob@example.com', password: 'bob-password-22', app: { provider: 'email', role: 'admin' }, meta: { name: 'Bob B' } });
  ids.carol = await insertAuthUser(s, { email: 'carol@example.com', password: null, app: { provider: 'github', providers: ['github'] } });
  ids.magic = await insertAuthUser(s, { email: 'magic@example.com', encrypted_password: '', confirmed: false });
  ids.dave = await insertAuthUser(s, { email: 'dave@example.com', password: 'dave-password-3', deleted_at: '2024-04-04T00:00:00Z' });
  ids.erin = await insertAuthUser(s, { email: 'erin@example.com', password: 'erin-password-4', banned_until: '2999-01-01T00:00:00Z' });
  ids.frank = await insertAuthUser(s, { email: 'frank@example.com', password: 'frank-password-5', banned_until: '2020-01-01T00:00:00Z' });
  ids.graceOld = await insertAuthUser(s, { email: 'Grace@Example.com', password: 'grace-password-6', created_at: '2023-01-01T00:00:00Z' });
  ids.graceNew = await insertAuthUser(s, { email: 'grace@example.com', password: 'grace-password-7', created_at: '2024-01-01T00:00:00Z' });
  ids.phone = await insertAuthUser(s, { email: null, phone: '15550001' });

  docs.a1 = await doc(ids.alice, 'alice one', { content: "it's \\ \"quoted\"\n\ttabbed ünïcode" });
  docs.a2 = await doc(ids.alice, 'alice two');
  docs.a3 = await doc(ids.alice, 'alice three');
  docs.b1 = await doc(ids.bob, 'bob one');
  docs.d1 = await doc(ids.dave, 'dave one');
  docs.d2 = await doc(ids.dave, 'dave two');
  docs.g1 = await doc(ids.graceNew, 'grace new one');
  docs.orphan = await doc('00000000-0000-4000-8000-000000000000', 'orphan');
  for (const [d, o, kind] of [
    [docs.a1, ids.alice, 'summary'],
    [docs.a1, ids.alice, 'risks'],
    [docs.a2, ids.alice, 'summary'],
    [docs.d1, ids.dave, 'summary'],
  ] as const) {
    await s`insert into public.analyses (document_id, owner_id, kind, model, status, result, tokens_used, cost_usd, duration_ms)
            values (${d}, ${o}, ${kind}, 'gpt', 'succeeded', ${s.json({ ok: true })}, 10, 0.000123, 5)`;
  }
  await s`insert into public.audit_logs (actor_id, action, entity_type, entity_id, changes) values
    (${ids.alice}, 'document.create', 'document', ${docs.a1}, '{"title":"alice one"}'),
    (${ids.dave}, 'user.delete', 'user', ${ids.dave}, null),
    (null, 'system.boot', 'system', null, null)`;
});

afterAll(async () => {
  await Promise.allSettled([src?.drop(), target?.drop()]);
});

const count = async (table: string) => (await target.sql.unsafe<{ n: number }[]>(`select count(*)::int as n from ${table}`))[0]!.n;

describe('import-supabase', () => {
  it('dry run writes nothing and reports the plan', async () => {
    const r = await run();
    expect(r.mode).toBe('dry-run');
    for (const t of ['users', 'documents', 'analyses', 'audit_logs']) expect(await count(t)).toBe(0);

    const u = r.plan.users!;
    expect(u.source_rows).toBe(10);
    expect(u.will_import).toBe(7);
    // A phone-only account is a customer with its own reason, not "no email".
    expect(u.skipped).toEqual({ deleted: 1, email_collision: 1, phone_only: 1 });
    expect(u.skipped_users.map((s) => s.id).sort()).toEqual([ids.dave, ids.graceNew, ids.phone].sort());
    expect(u.without_password.count).toBe(2);
    expect(u.without_password.users.map((x) => x.email).sort()).toEqual(['carol@example.com', 'magic@example.com']);
    expect(u.banned).toBe(1);
    expect(u.admins).toBe(1);
    expect(u.email_collisions).toEqual([{ email: 'grace@example.com', ids: [ids.graceOld, ids.graceNew], kept: ids.graceOld, why: 'the oldest account' }]);
    expect(u.dropped).toContain('phone');

    const d = r.plan.documents!;
    expect(d.source_rows).toBe(8);
    expect(d.will_import).toBe(4);
    expect(d.skipped).toEqual({ owner_deleted: 2, owner_not_imported: 1, owner_missing: 1 });
    expect(d.columns).toContainEqual({ source: 'user_id', target: 'owner_id' });
    expect(d.columns).toContainEqual({ source: 'storage_path', target: 's3_key' });
    expect(d.dropped).toEqual([
      { source: 'is_public', reason: 'offbase has no column is_public' },
      { source: 'analysis_count', reason: 'kept by the analyses trigger' },
    ]);
    expect(d.defaults).toContainEqual({ target: 's3_bucket', value: 'supabase-storage', from: 'mapping file' });
    expect(d.conflicts).toEqual({ already_in_target: 0 });

    expect(r.plan.analyses!.will_import).toBe(3);
    expect(r.plan.analyses!.skipped).toEqual({ owner_deleted: 1 });
    expect(r.plan.audit_logs!.will_import).toBe(3);
    expect(r.validation).toBeNull();
  });

  it('--apply imports users, documents, analyses and audit logs, then validates', async () => {
    const r = await run({ apply: true });
    expect(r.validation!.ok).toBe(true);
    expect(r.results.users).toMatchObject({ inserted: 7, already_present: 0 });
    expect(r.results.documents).toMatchObject({ inserted: 4, already_present: 0, parent_missing_in_target: 0 });
    expect(r.results.analyses).toMatchObject({ inserted: 3 });
    expect(r.results.audit_logs).toMatchObject({ inserted: 3 });

    const users = await target.sql<{ id: string; email: string; password_hash: string | null; full_name: string | null; role: string; metadata: object; disabled_at: string | null; email_verified_at: Date | null; last_login_at: Date | null; created_at: Date }[]>`
      select id::text, email, password_hash, full_name, role, metadata, disabled_at, email_verified_at, last_login_at, created_at from users`;
    const by = new Map(users.map((x) => [x.id, x]));
    expect(by.get(ids.alice)).toMatchObject({ email: 'alice@example.com', full_name: 'Alice A', role: 'user', metadata: { avatar_url: 'https://x/a.png' } });
    expect(by.get(ids.alice)!.password_hash).toMatch(/^\$2a\$10\$/);
    expect(by.get(ids.bob)).toMatchObject({ full_name: 'Bob B', role: 'admin', metadata: {} });
    expect(by.get(ids.carol)!.password_hash).toBeNull();
    expect(by.get(ids.magic)).toMatchObject({ password_hash: null, email_verified_at: null });
    expect(by.get(ids.erin)!.disabled_at).not.toBeNull();
    expect(by.get(ids.frank)!.disabled_at).toBeNull();
    expect(by.get(ids.graceOld)!.email).toBe('grace@example.com');
    expect(by.has(ids.dave)).toBe(false);
    const [times] = await target.sql<{ c: string; l: string }[]>`select created_at::text as c, last_login_at::text as l from users where id = ${ids.alice}`;
    expect(times).toEqual({ c: '2024-01-01 00:00:00.000001+00', l: '2024-06-01 10:00:00.654321+00' });

    const d = await target.sql<{ id: string; owner_id: string; s3_bucket: string; s3_key: string; analysis_count: number; content_text: string; tags: string[]; metadata: object; created_at: string }[]>`
      select id::text, owner_id::text, s3_bucket, s3_key, analysis_count, content_text, tags, metadata, created_at::text from documents order by title`;
    expect(d.map((x) => x.id).sort()).toEqual([docs.a1, docs.a2, docs.a3, docs.b1].sort());
    const a1 = d.find((x) => x.id === docs.a1)!;
    expect(a1).toMatchObject({ owner_id: ids.alice, s3_bucket: 'supabase-storage', s3_key: `${ids.alice}/alice one.pdf`, analysis_count: 2, tags: ['a', 'b'], metadata: { pages: 3 } });
    expect(a1.content_text).toBe("it's \\ \"quoted\"\n\ttabbed ünïcode");
    expect(a1.created_at).toBe('2024-02-02 02:02:02.222222+00');
    // Importing its analyses did not move the document's updated_at (the importer owns the table here).
    expect(r.results.analyses!.documents_updated_at_kept).toBe(true);
    const [upd] = await target.sql<{ u: string }[]>`select updated_at::text as u from documents where id = ${docs.a1}`;
    expect(upd!.u).toBe('2024-03-03 03:03:03.333333+00');
    // ...and the trigger is back on.
    await target.sql`update documents set description = 'x' where id = ${docs.a3}`;
    const [moved] = await target.sql<{ u: string }[]>`select updated_at::text as u from documents where id = ${docs.a3}`;
    expect(moved!.u).not.toBe('2024-03-03 03:03:03.333333+00');
    await target.sql`update documents set description = 'd' where id = ${docs.a3}`;
    expect(d.find((x) => x.id === docs.a3)!.analysis_count).toBe(0);
    // The search column is generated from the imported text.
    expect(await target.sql`select 1 from documents where search @@ plainto_tsquery('english', 'quoted')`).toHaveLength(1);
    const [cost] = await target.sql<{ cost_usd: string }[]>`select cost_usd::text from analyses limit 1`;
    expect(cost!.cost_usd).toBe('0.000123');
    // Audit ids are preserved and the identity moved past them.
    expect((await target.sql<{ id: string }[]>`select id::text from audit_logs order by id`).map((x) => x.id)).toEqual(['1', '2', '3']);
    const [next] = await target.sql<{ id: string }[]>`insert into audit_logs (action, entity_type) values ('x', 'y') returning id::text`;
    expect(next!.id).toBe('4');
  });

  // Needs the auth feature (POST /api/v1/auth/login with bcrypt verification and argon2id re-hash).
  it('imported users sign in with their Supabase password and the hash becomes argon2id', async () => {
    const t = await buildTestApp({}, { testDb: target });
    try {
      const login = (email: string, password: string) => t.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email, password } });
      for (const [email, password, id] of [
        ['alice@example.com', 'alice-password-1', ids.alice],
        ['bob@example.com', 'bob-password-22', ids.bob],
        ['frank@example.com', 'frank-password-5', ids.frank],
        ['grace@example.com', 'grace-password-6', ids.graceOld],
      ] as const) {
        const res = await login(email, password);
        expect(res.statusCode, `${email}: ${res.body}`).toBe(200);
        expect(res.json().user.id).toBe(id);
        const [row] = await target.sql<{ h: string }[]>`select password_hash as h from users where id = ${id}`;
        expect(row!.h).toMatch(/^\$argon2id\$/);
        expect((await login(email, password)).statusCode).toBe(200);
      }
      expect((await login('alice@example.com', 'wrong-password')).statusCode).toBe(401);
      // No password came across for OAuth users, and banned users are disabled.
      expect((await login('carol@example.com', 'anything-at-all')).statusCode).toBe(401);
      expect((await login('erin@example.com', 'erin-password-4')).statusCode).not.toBe(200);
      // The collision loser's password does not open the kept account.
      expect((await login('grace@example.com', 'grace-password-7')).statusCode).toBe(401);
      // What the log recorded never holds a password or a hash.
      expect(t.logs.join('')).not.toMatch(/alice-password-1|\$2a\$|\$argon2id\$/);
    } finally {
      await t.close();
    }
  });

  it('a second run changes nothing', async () => {
    const before = await target.sql`select id, updated_at, analysis_count from documents order by id`;
    const r = await run({ apply: true, only: ['users', 'documents', 'analyses'] });
    expect(r.results.users).toMatchObject({ inserted: 0, already_present: 7 });
    expect(r.results.documents).toMatchObject({ inserted: 0, already_present: 4 });
    expect(r.results.analyses).toMatchObject({ inserted: 0, already_present: 3 });
    expect(r.validation!.ok).toBe(true);
    expect(await target.sql`select id, updated_at, analysis_count from documents order by id`).toEqual(before);
    const dry = await run();
    expect(dry.plan.users!.conflicts.already_in_target).toBe(7);
    expect(dry.plan.documents!.conflicts).toEqual({ already_in_target: 4 });
  });

  it('--update refreshes rows changed in Supabase since, never rows changed in offbase since', async () => {
    await src.sql`update public.documents set title = 'alice three v2', updated_at = now() where id = ${docs.a3}`;
    await target.sql`update documents set title = 'edited in offbase' where id = ${docs.a2}`;
    const plain = await run({ apply: true, only: ['documents'] }).catch((e: Error) => e);
    expect(String(plain)).toMatch(/documents: 2 changed/);
    const lines: string[] = [];
    const updated = await run({ apply: true, update: true, only: ['documents'], out: (l) => lines.push(l) }).catch((e: Error) => e);
    // a2 was edited in offbase after the import: kept, and validation says it differs.
    expect(String(updated)).toMatch(/documents: 1 changed/);
    expect(lines.join('\n')).toMatch(/documents: inserted 0, updated 1, already present 3/);
    const titles = await target.sql<{ id: string; title: string }[]>`select id::text, title from documents where id in (${docs.a2}, ${docs.a3})`;
    expect(Object.fromEntries(titles.map((t) => [t.id, t.title]))).toEqual({ [docs.a2]: 'edited in offbase', [docs.a3]: 'alice three v2' });
    await target.sql`update documents set title = 'alice two' where id = ${docs.a2}`;
    const again = await run({ apply: true, update: true, only: ['documents'] });
    expect(again.results.documents).toMatchObject({ inserted: 0, updated: 0, already_present: 4 });
  });

  it('reports a row removed from the target (as a real process, exit non-zero, no password), and a rerun restores it', async () => {
    await target.sql`delete from documents where id = ${docs.b1}`;
    const reportPath = path.join(dir, 'report.json');
    const res = await cli(['--validate', '--only', 'users,documents', '--report', reportPath]);
    expect(res.code).not.toBe(0);
    expect(res.out).toContain(`missing 1: ${docs.b1}`);
    expect(res.out).toMatch(/offbase: validation failed: documents: 1 missing/);
    expect(res.out).not.toContain(src.password);
    expect(res.out).not.toMatch(/\n\s+at /);
    const report = JSON.parse(readFileSync(reportPath, 'utf8')) as ImportReport;
    expect(report.validation!.tables.documents).toMatchObject({ ok: false, missing_in_target: 1, missing_ids: [docs.b1], source_count: 4, target_count: 3 });
    expect(report.validation!.tables.documents!.source_ids_md5).not.toBe(report.validation!.tables.documents!.target_ids_md5);
    expect(JSON.stringify(report)).not.toContain(src.password);

    const fixed = await cli(['--apply', '--only', 'users,documents']);
    expect(fixed.out).not.toContain(src.password);
    expect(fixed.code).toBe(0);
    expect(fixed.out).toMatch(/documents: inserted 1, updated 0, already present 3/);
  }, 90_000);

  it('a row offbase refuses is reported with its reason, and the rest of its batch still comes across', async () => {
    const bad = await doc(ids.alice, 'bad status');
    const ok = await doc(ids.alice, 'fine one');
    await src.sql`update public.documents set status = 'draft' where id = ${bad}`;
    try {
      const lines: string[] = [];
      await expect(run({ apply: true, only: ['documents'], batchSize: 10, out: (l) => lines.push(l) })).rejects.toThrow(/validation failed: documents: 1 missing/);
      expect(lines.join('\n')).toContain(`refused ${bad}: new row for relation "documents" violates check constraint "documents_status_check"`);
      expect(await target.sql`select 1 from documents where id = ${ok}`).toHaveLength(1);
    } finally {
      await target.sql`delete from documents where id = ${ok}`;
      await src.sql`delete from public.documents where id in (${bad}, ${ok})`;
    }
  });

  it('refuses a source table whose rows row level security would hide', async () => {
    await src.sql.unsafe(`create table public.files_rls (like public.documents including all); alter table public.files_rls enable row level security;
      grant select on public.files_rls to ${new URL(src.url).username}`);
    const rlsMapping = path.join(dir, 'rls.json');
    writeFileSync(rlsMapping, JSON.stringify({ documents: { ...SOURCE_MAPPING.documents, table: 'public.files_rls' } }));
    await expect(run({ mappingPath: rlsMapping, only: ['documents'] })).rejects.toThrow(/^row level security on public.files_rls hides rows from sb_/);
  });

  it('changed content is reported by validation', async () => {
    await target.sql`update documents set title = 'edited in offbase' where id = ${docs.a2}`;
    await expect(run({ validateOnly: true, only: ['documents'] })).rejects.toThrow(/documents: 1 changed/);
    await target.sql`update documents set title = 'alice two' where id = ${docs.a2}`;
  });

  it('fails with one line and no password for a wrong URL, a missing auth schema and a missing table', async () => {
    // (A wrong password is not testable portably: the machine's PostgreSQL may trust local connections.)
    const wrong = src.url.replace(`/${src.name}`, '/no_such_database');
    const a = await cli(['--source', wrong]);
    expect(a.code).toBe(1);
    expect(a.out.trim().split('\n')).toEqual(['offbase: cannot connect to the source: database does not exist']);

    const noAuth = await cli(['--source', target.url]);
    expect(noAuth.code).toBe(1);
    expect(noAuth.out.trim()).toBe('offbase: the source has no auth schema: is it a Supabase database?');

    const badMapping = path.join(dir, 'bad.json');
    writeFileSync(badMapping, JSON.stringify({ ...SOURCE_MAPPING, analyses: { table: 'public.nope' } }));
    const noTable = await cli(['--mapping', badMapping]);
    expect(noTable.code).toBe(1);
    expect(noTable.out.trim()).toBe('offbase: the source has no table public.nope');
    for (const r of [a, noAuth, noTable]) expect(r.out).not.toContain(src.password);
  }, 90_000);
});

/** The CLI against the test databases, with this file's source and mapping unless given. */
function cli(args: string[]): Promise<{ code: number | null; out: string }> {
  const full = [...args];
  if (!args.includes('--source')) full.push('--source', src.url);
  if (!args.includes('--mapping')) full.push('--mapping', mappingPath);
  return importCli(full, target.url);
}
