import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runImport, type ImportOptions, type ImportReport } from '../../src/import/run.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { addGoTrueUser, createRealSupabaseSource, type RealSupabaseSource } from '../helpers/supabase-real-source.js';

// Part 7 on a real-shaped seed project: nullable tags / metadata, statuses offbase's checks do
// not know, numbers as text, JSON as text, uuid audit ids. The dry run predicts every refusal;
// transforms in the mapping file fix them without touching the source.

let src: RealSupabaseSource;
let target: TestDatabase;
let dir: string;
const docs: string[] = [];
const nullTags: string[] = [];
const analyses: Record<string, string> = {};
let badJsonAudit = '';
const quiet = { start() {}, tick() {}, stop() {} };

const base = {
  documents: { columns: { user_id: 'owner_id', storage_path: 's3_key' }, defaults: { s3_bucket: 'supabase-storage' } },
  analyses: { table: 'public.analysis', columns: { user_id: 'owner_id', tokens: 'tokens_used' } },
  audit_logs: { columns: { user_id: 'actor_id', details: 'changes' }, id: { generate: true, source_id_into: 'changes' } },
};
const transforms = {
  documents: { ...base.documents, transforms: { tags: { when_null: [] }, metadata: { when_null: {} }, status: { values: { completed: 'ready' } } } },
  analyses: { ...base.analyses, transforms: { status: { values: { completed: 'succeeded', processing: 'running' } }, tokens_used: { values: { 'n/a': null } } } },
  audit_logs: { ...base.audit_logs, transforms: { changes: { values: { '{oops': null } } } },
};

function mapping(content: object): string {
  const file = path.join(dir, `m-${Object.keys(content).join('-')}-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(file, JSON.stringify(content));
  return file;
}

function run(extra: Partial<ImportOptions>, lines: string[] = []): Promise<ImportReport> {
  return runImport({ sourceUrl: src.url, targetUrl: target.url, apply: false, only: ['users', 'documents', 'analyses', 'audit_logs'], batchSize: 50, out: (l) => lines.push(l), progress: quiet, ...extra });
}

beforeAll(async () => {
  [src, target] = await Promise.all([createRealSupabaseSource(), createTestDatabase()]);
  dir = mkdtempSync(path.join(tmpdir(), 'offbase-import-real-data-'));
  const s = src.sql;
  const owners = [await addGoTrueUser(s, { email: 'ann@example.com', password: 'ann-password-12' }), await addGoTrueUser(s, { email: 'ben@example.com', provider: 'google' })];
  // 120 documents: every 10th without tags, every 15th without metadata, a third 'completed'.
  for (let i = 0; i < 120; i++) {
    const [d] = await s<{ id: string }[]>`
      insert into public.documents (user_id, title, status, storage_path, content_text, tags, metadata, created_at)
      values (${owners[i % 2]!}, ${`Doc ${i}`}, ${i % 3 === 0 ? 'completed' : 'uploaded'}, ${`u/${i}.pdf`}, 'text',
        ${i % 10 === 0 ? null : ['x']}, ${i % 15 === 0 ? null : s.json({ i })}, now() - make_interval(secs => ${i}))
      returning id::text`;
    docs.push(d!.id);
    if (i % 10 === 0) nullTags.push(d!.id);
  }
  for (const [key, status, tokens] of [['done', 'completed', '120'], ['busy', 'processing', 'n/a'], ['ok', 'pending', '7'], ['failed', 'failed', null]] as const) {
    const [a] = await s<{ id: string }[]>`
      insert into public.analysis (document_id, user_id, status, tokens, result) values (${docs[1]!}, ${owners[1]!}, ${status}, ${tokens}, ${s.json({ k: key })}) returning id::text`;
    analyses[key] = a!.id;
  }
  // An analysis that is fine itself, of a document offbase would refuse (NULL tags, 'completed').
  const [orphaned] = await s<{ id: string }[]>`
    insert into public.analysis (document_id, user_id, status, tokens) values (${docs[0]!}, ${owners[0]!}, 'pending', '1') returning id::text`;
  analyses.ofRefused = orphaned!.id;
  await s`insert into public.audit_logs (user_id, action, entity_type, details) values (${owners[0]!}, 'document.create', 'document', '{"title": "Doc 0"}'), (null, 'system.boot', 'system', null)`;
  const [bad] = await s<{ id: string }[]>`insert into public.audit_logs (user_id, action, entity_type, details) values (${owners[0]!}, 'x', 'y', '{oops') returning id::text`;
  badJsonAudit = bad!.id;
}, 120_000);

afterAll(async () => {
  await Promise.allSettled([src?.drop(), target?.drop()]);
});

const count = async (t: string) => (await target.sql.unsafe<{ n: number }[]>(`select count(*)::int as n from ${t}`))[0]!.n;

describe('import-supabase from a real-shaped seed project: data', () => {
  it('uuid ids into a bigint table are refused at planning, with the mapping that fixes it', async () => {
    const m = mapping({ audit_logs: { columns: { user_id: 'actor_id', details: 'changes' } } });
    await expect(run({ only: ['audit_logs'], mappingPath: m })).rejects.toThrow(/^audit_logs: source ids are uuid but offbase's are bigint: .*"generate": true/);
  });

  it('the dry run predicts every refusal per column, with counts and example ids, and exits non-zero', async () => {
    const lines: string[] = [];
    const reportPath = path.join(dir, 'dry.json');
    await expect(run({ mappingPath: mapping(base), reportPath }, lines)).rejects.toThrow(/^--apply would refuse: documents: 48 row\(s\)/);
    const report = JSON.parse(readFileSync(reportPath, 'utf8')) as ImportReport;
    const d = report.plan.documents!;
    expect(d.will_refuse).toBe(48); // 40 completed, and 8 more without tags (multiples of 10 but not of 3)
    const by = (p: typeof d, col: string, problem: string) => p.refusals.find((r) => r.column === col && r.problem === problem);
    expect(by(d, 'tags', 'NULL into NOT NULL')).toMatchObject({ count: 12 });
    expect(by(d, 'tags', 'NULL into NOT NULL')!.examples).toHaveLength(5);
    for (const id of by(d, 'tags', 'NULL into NOT NULL')!.examples) expect(nullTags).toContain(id);
    expect(by(d, 'metadata', 'NULL into NOT NULL')).toMatchObject({ count: 8 });
    expect(by(d, 'status', 'check documents_status_check')).toMatchObject({ count: 40 });
    expect(d.will_import).toBe(120 - 48);
    const a = report.plan.analyses!;
    // 'processing' also has tokens 'n/a': reported for the type; its CHECK is tested once that is fixed.
    expect(a.will_refuse).toBe(3);
    expect(by(a, 'document_id', 'its parent would be refused')).toMatchObject({ count: 1, examples: [analyses.ofRefused] });
    expect(by(a, 'status', 'check analyses_status_check')).toMatchObject({ count: 1, examples: [analyses.done] });
    expect(by(a, 'tokens_used', 'not a valid integer')).toMatchObject({ count: 1, examples: [analyses.busy] });
    const l = report.plan.audit_logs!;
    expect(l.generated_id).toEqual({ source_id_into: 'changes' });
    expect(by(l, 'changes', 'not valid JSON')).toMatchObject({ count: 1, examples: [badJsonAudit] });
    const text = lines.join('\n');
    expect(text).toContain('  offbase would refuse 48 row(s):');
    expect(text).toMatch(/\n {4}tags: NULL into NOT NULL: 12 \(e\.g\. [0-9a-f-]{36}, /);
    expect(text).toContain('--apply would refuse: analyses: 3 row(s)');
    expect(await count('documents')).toBe(0);
  });

  it('--apply sets the refused rows aside with their reason, writes the rest set-based, and fails validation', async () => {
    const lines: string[] = [];
    await expect(run({ apply: true, mappingPath: mapping(base) }, lines)).rejects.toThrow(/validation failed: documents: 48 missing/);
    expect(await count('documents')).toBe(72);
    const text = lines.join('\n');
    expect(text).toMatch(/documents: inserted 72, updated 0, already present 0, refused by offbase 48/);
    expect(text).toContain(`refused ${nullTags[1]}: null value in column "tags" of relation "documents" violates not-null constraint`);
    expect(await count('analyses')).toBe(2);
    expect(await count('audit_logs')).toBe(2);
  });

  it('with transforms the dry run is clean and --apply brings everything, ids kept in metadata, reruns are no-ops', async () => {
    const m = mapping(transforms);
    const dry = await run({ mappingPath: m });
    expect(dry.refusals).toEqual([]);
    expect(dry.plan.documents).toMatchObject({ will_refuse: 0, will_import: 120, conflicts: { already_in_target: 72 } });
    expect(dry.plan.audit_logs!.conflicts).toEqual({ already_in_target: 2 });
    const r = await run({ apply: true, mappingPath: m });
    expect(r.validation!.ok).toBe(true);
    expect(r.results.documents).toMatchObject({ inserted: 48, already_present: 72, rejected: 0 });
    const [d] = await target.sql<{ tags: string[]; metadata: object; status: string }[]>`select tags, metadata, status from documents where id = ${nullTags[0]!}`;
    expect(d).toEqual({ tags: [], metadata: {}, status: 'ready' });
    const st = await target.sql<{ id: string; status: string; tokens_used: number | null }[]>`select id::text, status, tokens_used from analyses`;
    expect(Object.fromEntries(st.map((x) => [x.id, [x.status, x.tokens_used]]))).toEqual({
      [analyses.done!]: ['succeeded', 120],
      [analyses.busy!]: ['running', null],
      [analyses.ok!]: ['pending', 7],
      [analyses.failed!]: ['failed', null],
      [analyses.ofRefused!]: ['pending', 1],
    });
    const logs = await target.sql<{ id: string; changes: Record<string, unknown> | null }[]>`select id::text, changes from audit_logs order by id`;
    expect(logs).toHaveLength(3);
    expect(logs.every((x) => /^\d+$/.test(x.id) && typeof x.changes?.supabase_id === 'string')).toBe(true);
    expect(logs.find((x) => x.changes!.supabase_id === badJsonAudit)!.changes).toEqual({ supabase_id: badJsonAudit });
    expect(logs.find((x) => x.changes!.title === 'Doc 0')).toBeDefined();
    const again = await run({ apply: true, mappingPath: m });
    expect(again.results.audit_logs).toMatchObject({ inserted: 0, already_present: 3 });
    expect(again.results.documents).toMatchObject({ inserted: 0, already_present: 120 });
  });

  it('a refusal no check foresees (a unique index) is isolated by splitting the batch, the rest still comes across', async () => {
    const [owner] = await src.sql<{ id: string }[]>`select id::text from auth.users where email = 'ann@example.com'`;
    const twins = await src.sql<{ id: string }[]>`
      insert into public.documents (user_id, title, storage_path, tags, metadata)
      select ${owner!.id}, 'Twin ' || i, 'same/key.pdf', '{}', '{}' from generate_series(1, 2) i returning id::text`;
    const fine = await src.sql<{ id: string }[]>`
      insert into public.documents (user_id, title, storage_path, tags, metadata)
      select ${owner!.id}, 'Fine ' || i, 'fine/' || i, '{}', '{}' from generate_series(1, 30) i returning id::text`;
    try {
      const lines: string[] = [];
      await expect(run({ apply: true, only: ['documents'], mappingPath: mapping(transforms) }, lines)).rejects.toThrow(/validation failed: documents: 1 missing/);
      expect(lines.join('\n')).toMatch(/documents: inserted 31, updated 0, already present 120, refused by offbase 1/);
      expect(lines.join('\n')).toMatch(/refused [0-9a-f-]{36}: duplicate key value violates unique constraint "documents_owner_s3_key"/);
      expect(await count('documents')).toBe(151);
    } finally {
      const all = [...twins, ...fine].map((x) => x.id);
      await target.sql`delete from documents where id = any(${all}::uuid[])`;
      await src.sql`delete from public.documents where id = any(${all}::uuid[])`;
    }
  });
});
