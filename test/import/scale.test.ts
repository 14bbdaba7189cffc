import { afterAll, beforeAll, expect, it } from 'vitest';
import { runImport } from '../../src/import/run.js';
import { createTestDatabase } from '../helpers/db.js';
import { createSupabaseSource, exposeGc, insertAuthUser, writeSourceMapping, type SupabaseSource } from '../helpers/supabase-source.js';

// The scale test: 100,000 documents import, validate, and memory stays flat.
// (Throughput on realistic, larger documents is measured by `npm run bench:import`.)

const gc = exposeGc();

const DOCS = 100_000;
const BATCH = 1000;

let src: SupabaseSource;
let mappingPath: string;

beforeAll(async () => {
  src = await createSupabaseSource();
  mappingPath = writeSourceMapping();
  const owners = await Promise.all(Array.from({ length: 20 }, (_, i) => insertAuthUser(src.sql, { email: `owner${i}@example.com`, password: null })));
  await src.sql`
    insert into public.documents (user_id, title, storage_path, content_text)
    select (${owners}::uuid[])[1 + i % 20], 'Document ' || i, 'scale/' || i, 'clause ' || i || ' of the master services agreement'
    from generate_series(1, ${DOCS}) i`;
}, 300_000);
afterAll(async () => {
  await src?.drop();
});

it('imports 100,000 documents with flat memory, and validation agrees', async () => {
  const target = await createTestDatabase();
  gc();
  const base = process.memoryUsage().heapUsed;
  let peak = 0;
  let ticks = 0;
  const started = Date.now();
  const report = await runImport({
    sourceUrl: src.url,
    targetUrl: target.url,
    apply: true,
    only: ['users', 'documents'],
    batchSize: BATCH,
    mappingPath,
    strategy: 'insert',
    out: () => {},
    progress: {
      start() {},
      stop() {},
      tick() {
        // A GC every 10 batches keeps the measurement honest without dominating the run.
        if (++ticks % 10 === 0) {
          gc();
          peak = Math.max(peak, process.memoryUsage().heapUsed - base);
        }
      },
    },
  });
  const seconds = (Date.now() - started) / 1000;
  process.stdout.write(`import-scale: ${DOCS} documents in ${seconds.toFixed(1)} s (${Math.round(DOCS / seconds)} rows/s incl. validation), peak live heap +${(peak / 1048576).toFixed(1)} MiB\n`);
  expect(report.results.documents!.inserted).toBe(DOCS);
  expect(report.validation!.ok).toBe(true);
  const counted = await target.sql<{ n: number }[]>`select count(*)::int as n from documents`;
  expect(counted[0]?.n).toBe(DOCS);
  // What stays live after a GC is a few batches' worth at most, not 100,000 rows.
  expect(peak).toBeLessThan(16 * 1024 * 1024);
  await target.drop();
}, 600_000);
