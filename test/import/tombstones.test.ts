import { afterAll, beforeAll, expect, it } from 'vitest';
import { runImport, type ImportOptions } from '../../src/import/run.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { createSupabaseSource, insertAuthUser, writeSourceMapping, type SupabaseSource } from '../helpers/supabase-source.js';

// An account deleted in offbase stays deleted when the Supabase import runs again: its
// tombstone keeps no email, and no document is imported under it (validation then reports
// the source's documents of that account as missing, which they are).

let src: SupabaseSource;
let target: TestDatabase;
let mappingPath: string;
let userId: string;

const quiet = { start() {}, tick() {}, stop() {} };
const run = (extra: Partial<ImportOptions> = {}) =>
  runImport({ sourceUrl: src.url, targetUrl: target.url, apply: true, only: ['users', 'documents'], batchSize: 10, mappingPath, out: () => {}, progress: quiet, ...extra });

beforeAll(async () => {
  [src, target] = await Promise.all([createSupabaseSource(), createTestDatabase()]);
  mappingPath = writeSourceMapping();
  userId = await insertAuthUser(src.sql, { email: 'gone@example.com', password: 'gone-password-1' });
  await src.sql`insert into public.documents (user_id, title, storage_path, content_text) values (${userId}, 'Doc', 'f/1', 'text')`;
});
afterAll(async () => {
  await src?.drop();
  await target?.drop();
});

it('a re-import neither revives a tombstone nor hangs documents under it', async () => {
  await run();
  expect((await target.sql`select count(*)::int as n from documents where owner_id = ${userId}`)[0]!.n).toBe(1);
  // The account is deleted in offbase (as DELETE /auth/me leaves it).
  await target.sql`delete from documents where owner_id = ${userId}`;
  await target.sql`update users set email = null, full_name = null, password_hash = null, deleted_at = now() where id = ${userId}`;
  // The source row is newer, so --update would overwrite a live row.
  await src.sql`update auth.users set updated_at = now() + interval '1 day' where id = ${userId}`;
  for (const update of [false, true]) {
    // Validation names what the target lacks: the deleted account's source document.
    await expect(run({ update })).rejects.toThrow(/documents: 1 missing/);
    const [row] = await target.sql`select email, password_hash, deleted_at from users where id = ${userId}`;
    expect(row).toMatchObject({ email: null, password_hash: null });
    expect(row!.deleted_at).not.toBeNull();
    expect((await target.sql`select count(*)::int as n from documents where owner_id = ${userId}`)[0]!.n).toBe(0);
  }
}, 120_000);
