import { randomBytes } from 'node:crypto';
import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import postgres from 'postgres';
import { loadConfig } from '../src/config.js';
import { runMigrations } from '../src/db/migrate.js';
import { runImport } from '../src/import/run.js';
import type { WriteStrategy } from '../src/import/writer.js';
import { createSupabaseDatabase, SOURCE_MAPPING } from '../test/helpers/supabase-source.js';
import { startEmbeddedServer } from '../test/setup/server.js';

// `npm run bench:import`: 100,000 documents (about 1 KiB of text each) from a stand-in Supabase
// database into a fresh offbase database, once per write strategy; prints rows/s and the
// heap high-water mark (sampled after a GC at every batch) to show memory stays flat.
// BENCH_DATABASE_URL (a superuser URL) picks the server; otherwise an embedded PostgreSQL.

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const DOCS = Number(process.env.BENCH_IMPORT_DOCS ?? 100_000);
const USERS = 1000;
const BATCH = Number(process.env.BENCH_IMPORT_BATCH ?? 1000);

const server = process.env.BENCH_DATABASE_URL ? null : await startEmbeddedServer();
const adminUrl = process.env.BENCH_DATABASE_URL ?? server!.adminUrl;
const tag = randomBytes(3).toString('hex');
const src = await createSupabaseDatabase(adminUrl, `offbase_bench_src_${tag}`);
const mappingPath = `${process.env.TMPDIR ?? '/tmp'}/offbase-bench-mapping-${tag}.json`;
(await import('node:fs')).writeFileSync(mappingPath, JSON.stringify(SOURCE_MAPPING));

try {
  const t0 = Date.now();
  await src.sql`
    insert into auth.users (id, aud, role, email, encrypted_password, email_confirmed_at, raw_app_meta_data, raw_user_meta_data, created_at, updated_at)
    select gen_random_uuid(), 'authenticated', 'authenticated', 'user' || i || '@example.com',
      '$2a$10$' || rpad(md5(i::text), 53, 'x'), now(), '{}', jsonb_build_object('full_name', 'User ' || i), now(), now()
    from generate_series(1, ${USERS}) i`;
  await src.sql`
    insert into public.documents (user_id, title, description, status, storage_path, content_type, size_bytes, content_text, tags, metadata)
    select u.id, 'Document ' || i, 'about ' || i, 'ready', 'files/' || i || '.pdf', 'application/pdf', i,
      repeat('the quarterly report covers revenue, risks and action items for team ' || (i % 100) || '. ', 14), array['tag' || (i % 10)], jsonb_build_object('n', i)
    from generate_series(1, ${DOCS}) i
    join (select id, row_number() over (order by id) - 1 as k from auth.users) u on u.k = i % ${USERS}`;
  // Freshly inserted rows make their first reader set hint bits: vacuum so every run reads alike.
  await src.sql`vacuum analyze`;
  process.stderr.write(`seeded ${USERS} users and ${DOCS} documents in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);

  const results: Record<string, unknown>[] = [];
  const strategies = (process.env.BENCH_IMPORT_STRATEGIES ?? 'insert,copy').split(',') as WriteStrategy[];
  for (const strategy of strategies) {
    const name = `offbase_bench_tgt_${tag}_${strategy}`;
    const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
    await admin.unsafe(`create database ${name}`);
    await admin.end();
    const url = new URL(adminUrl);
    url.pathname = `/${name}`;
    await runMigrations(loadConfig({ NODE_ENV: 'test', DATABASE_URL: url.toString() }).db, url.toString());
    gc();
    const base = process.memoryUsage().heapUsed;
    let peak = 0;
        const report = await runImport({
      sourceUrl: src.url,
      targetUrl: url.toString(),
      apply: true,
      only: ['users', 'documents'],
      batchSize: BATCH,
      mappingPath,
      strategy,
      out: () => {},
      progress: {
        start() {},
        stop() {},
        tick() {
          gc();
          peak = Math.max(peak, process.memoryUsage().heapUsed - base);
        },
      },
    });
    const docs = report.results.documents!;
    results.push({
      strategy,
      documents: docs.inserted,
      seconds: docs.seconds,
      rows_per_s: docs.rows_per_s,
      users_rows_per_s: report.results.users!.rows_per_s,
      heap_growth_peak_mib: +(peak / 1048576).toFixed(1),
      validation_ok: report.validation!.ok,
    });
    const drop = postgres(adminUrl, { max: 1, onnotice: () => {} });
    await drop.unsafe(`drop database ${name} with (force)`);
    await drop.end();
  }
  console.log(JSON.stringify({ docs: DOCS, batch_size: BATCH, results }, null, 2));
} finally {
  await src.drop();
  await server?.stop();
}
