import { afterAll, beforeAll, expect, it } from 'vitest';
import { runImport } from '../../src/import/run.js';
import { createTestDatabase } from '../helpers/db.js';
import { createSupabaseSource, exposeGc, insertAuthUser, writeSourceMapping, type SupabaseSource } from '../helpers/supabase-source.js';

// Memory stays flat: the importer holds one batch at a time, whatever the table size.
// (100,000 documents: test/import/scale.test.ts; rows/s on larger documents: `npm run bench:import`.)

const gc = exposeGc();

const DOCS = 3000;
const TEXT_BYTES = 6_000; // 18 MB of document text in all
const BATCH = 200; // about 1.2 MB of text per batch

let src: SupabaseSource;
let mappingPath: string;

beforeAll(async () => {
  src = await createSupabaseSource();
  mappingPath = writeSourceMapping();
  const owner = await insertAuthUser(src.sql, { email: 'big@example.com', password: null });
  await src.sql`
    insert into public.documents (user_id, title, storage_path, content_text)
    select ${owner}, 'Document ' || i, 'f/' || i, left(repeat('streamed rows stay bounded ' || i || ' ', 400), ${TEXT_BYTES})
    from generate_series(1, ${DOCS}) i`;
});
afterAll(async () => {
  await src?.drop();
});

it.each(['copy', 'insert'] as const)('imports a table much larger than a batch holding one batch at a time (%s)', async (strategy) => {
  const target = await createTestDatabase();
  gc();
  const base = process.memoryUsage().heapUsed;
  let peak = 0;
  const batches: number[] = [];
  const report = await runImport({
    sourceUrl: src.url,
    targetUrl: target.url,
    apply: true,
    only: ['users', 'documents'],
    batchSize: BATCH,
    mappingPath,
    strategy,
    out: () => {},
    progress: {
      start() {},
      stop() {},
      tick(n) {
        batches.push(n);
        gc();
        peak = Math.max(peak, process.memoryUsage().heapUsed - base);
      },
    },
  });
  expect(report.results.documents!.inserted).toBe(DOCS);
  expect(report.validation!.ok).toBe(true);
  // The reader hands over at most one batch at a time...
  expect(Math.max(...batches)).toBeLessThanOrEqual(BATCH);
  expect(batches.filter((n) => n === BATCH).length).toBeGreaterThanOrEqual(DOCS / BATCH);
  // ...and what stays live (measured after a GC at every batch, with the current batch still
  // referenced) is a few MB, far below the 18 MB of text that went through.
  expect(peak).toBeLessThan(8 * 1024 * 1024);
  await target.drop();
}, 120_000);
