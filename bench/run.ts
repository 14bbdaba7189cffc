// `npm run bench [-- --quick] [--duration S] [--only S1,S2,...]`
// Seeds (or reuses) a database, starts the API in production mode and the B1 floor as child
// processes, runs pgbench for B2, drives S1–S7 with autocannon and writes one table to
// bench/results/. See docs/benchmarks.md for what each row means.
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import postgres from 'postgres';
import { loadConfig } from '../src/config.js';
import { startBenchPostgres, withDatabase } from './lib/database.js';
import { load, mean, type LoadResult, type Req } from './lib/load.js';
import { findPgbench, pgbench, pgbenchVersion } from './lib/pgbench.js';
import { startChild, type Child } from './lib/processes.js';
import { summarizeProfile } from './lib/profile.js';
import { machine, markdown, table, type Row } from './lib/report.js';
import { scenarios, type Population } from './lib/scenarios.js';
import { acquireTokens } from './lib/sessions.js';
import { ensureTemplate } from './lib/seed.js';
import { pgbenchScripts } from './lib/sql.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    duration: { type: 'string' },
    connections: { type: 'string', default: '32' },
    only: { type: 'string' },
    'pool-max': { type: 'string', default: '10' },
    // Runs the API under node --cpu-prof and appends where its CPU time went to the results.
    profile: { type: 'boolean', default: false },
  },
});
const quick = args.quick!;
const durationS = Number(args.duration ?? (quick ? 2 : 10));
const rounds = quick ? 1 : 3;
const connections = Number(args.connections);
const poolMax = Number(args['pool-max']);
const only = args.only ? new Set(args.only.split(',').map((s) => s.trim().toUpperCase())) : null;
const wanted = (id: string) => !only || only.has(id);
const shape = quick ? { users: 200, docsPerUser: 25 } : { users: 200, docsPerUser: 500 };
const started = Date.now();
const log = (m: string) => process.stderr.write(`[bench ${((Date.now() - started) / 1000).toFixed(1).padStart(5)} s] ${m}\n`);

const pg = await startBenchPostgres(ROOT, log);
const children: Child[] = [];
const runDb = 'bench_run';
try {
  const secret = randomBytes(48).toString('base64url');
  const apiEnv = {
    NODE_ENV: 'production',
    DATABASE_URL: withDatabase(pg.adminUrl, runDb),
    JWT_SECRET: secret,
    MIGRATE_ON_BOOT: 'true',
    DB_POOL_MAX: String(poolMax),
    LOG_LEVEL: 'info',
    // S6 measures login itself; the limiter would turn the storm into 429s.
    RATE_LIMIT_ENABLED: 'false',
  };
  const config = loadConfig(apiEnv);

  const template = await ensureTemplate(pg.adminUrl, config, shape, log);
  const admin = postgres(pg.adminUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`drop database if exists ${runDb} with (force)`);
  await admin.unsafe(`create database ${runDb} template ${template} strategy file_copy`);
  await admin.end();
  log(`cloned ${template} into ${runDb}`);

  mkdirSync(path.join(ROOT, '.data/bench'), { recursive: true });
  const profileDir = path.join(ROOT, '.data/bench/profile');
  if (args.profile) rmSync(profileDir, { recursive: true, force: true });
  const nodeArgs = args.profile ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [];
  const api = await startChild(ROOT, 'src/server.ts', apiEnv, path.join(ROOT, '.data/bench/api.log'), '/health/ready', nodeArgs);
  children.push(api);
  const floor = await startChild(ROOT, 'bench/floor-server.ts', { DATABASE_URL: apiEnv.DATABASE_URL, DB_POOL_MAX: String(poolMax) }, path.join(ROOT, '.data/bench/floor.log'), '/floor/documents?owner=00000000-0000-0000-0000-000000000000');
  children.push(floor);
  log(`API at ${api.baseUrl} (NODE_ENV=production, pool ${poolMax}); B1 floor at ${floor.baseUrl}`);

  const tokenCount = quick ? 50 : shape.users;
  const { tokens, via } = await acquireTokens(api.baseUrl, apiEnv.DATABASE_URL, secret, tokenCount, log);
  log(`${tokens.length} access tokens via ${via}`);
  const pop: Population = { ...shape, tokens, runId: `run-${Date.now().toString(36)}` };
  const opts = { connections, durationS };

  // A login takes over a second under a storm on 2 cores: S6/S7 need a few seconds to say anything.
  const loginOpts = { connections, durationS: Math.max(durationS, 3) };

  const measure = async (id: string, label: string, baseUrl: string, next: () => Req, o = opts): Promise<LoadResult | null> => {
    if (!wanted(id)) return null;
    log(`${label}: ${connections} connections, ${o.durationS} s`);
    const r = await load(baseUrl, next, o);
    const bad = Object.entries(r.statuses).filter(([s]) => !s.startsWith('2'));
    log(`  ${r.rps.toFixed(0)} req/s, p50 ${r.p50} ms, p99 ${r.p99} ms, errors ${r.errors}${bad.length ? ` (${bad.map(([s, n]) => `${s}×${n}`).join(', ')})` : ''}`);
    return r;
  };

  // Warm-up: JIT, prepared statements, PostgreSQL's buffer cache. Not measured.
  log('warming up');
  const warm = { connections, durationS: quick ? 1 : 3 };
  await load(floor.baseUrl, scenarios.floorGet(pop), warm);
  await load(api.baseUrl, scenarios.get(pop), warm);
  await load(api.baseUrl, scenarios.list(pop), warm);

  const pgbenchBin = findPgbench();
  const scripts = pgbenchScripts(shape.users, shape.docsPerUser);
  const runPgbench = async (id: string, script: string) => {
    if (!wanted(id) || !pgbenchBin) return null;
    log(`${id} pgbench: ${poolMax} clients, ${durationS} s`);
    const r = await pgbench(pgbenchBin, apiEnv.DATABASE_URL, script, { clients: poolMax, durationS });
    log(`${id}: ${r.rps.toFixed(0)} tx/s, p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms`);
    return r;
  };
  const b2List = await runPgbench('B2', scripts.list);
  const b2Get = await runPgbench('B2', scripts.get);
  // Each S1/S2 run is paired with its B1 floor run right before it, alternating `rounds`
  // times, so a noisy neighbour on the machine hits both sides of a ratio alike.
  const paired = async (id: string, label: string, floorNext: () => Req, apiNext: () => Req) => {
    const floors: LoadResult[] = [];
    const runs: LoadResult[] = [];
    for (let round = 0; round < rounds; round++) {
      const f = await measure(id, `B1 floor ${label.slice(3)}`, floor.baseUrl, floorNext);
      const r = await measure(id, label, api.baseUrl, apiNext);
      if (f) floors.push(f);
      if (r) runs.push(r);
    }
    return [mean(floors), mean(runs)] as const;
  };
  const [b1List, s1] = await paired('S1', 'S1 list', scenarios.floorList(pop), scenarios.list(pop));
  const [b1Get, s2] = await paired('S2', 'S2 get', scenarios.floorGet(pop), scenarios.get(pop));
  const live = await measure('H', 'H GET /health/live', api.baseUrl, scenarios.live());
  const s3 = await measure('S3', 'S3 search', api.baseUrl, scenarios.search(pop));
  const s4 = await measure('S4', 'S4 create', api.baseUrl, scenarios.create(pop));
  const s5 = await measure('S5', 'S5 batch of 100', api.baseUrl, scenarios.batch(pop));
  const s6 = await measure('S6', 'S6 login', api.baseUrl, scenarios.login(pop), loginOpts);
  let s7: LoadResult | null = null;
  let s7Storm: LoadResult | null = null;
  if (wanted('S7')) {
    log(`S7 get during a login storm: S2 and S6 at ${connections} connections each, ${loginOpts.durationS} s`);
    [s7, s7Storm] = await Promise.all([load(api.baseUrl, scenarios.get(pop), loginOpts), load(api.baseUrl, scenarios.login(pop), loginOpts)]);
    log(`S7: ${s7.rps.toFixed(0)} req/s, p50 ${s7.p50} ms, p99 ${s7.p99} ms, errors ${s7.errors}; storm ${s7Storm.rps.toFixed(0)} logins/s, errors ${s7Storm.errors}`);
  }

  const ratio = (a: LoadResult | null, b: LoadResult | null, name: string) => (a && b ? `${(a.rps / b.rps).toFixed(2)}× ${name}` : '');
  const atLeast = (a: LoadResult | null, b: LoadResult | null, k: number) => (a && b ? a.rps >= k * b.rps && a.errors === 0 : null);
  const noErrors = (a: LoadResult | null) => (a ? a.errors === 0 : null);
  const pgbenchNote = pgbenchBin ? undefined : 'pgbench not found';
  const rows: Row[] = [
    { scenario: 'S1 list `GET /documents?limit=20`', result: s1, ratio: ratio(s1, b1List, 'B1'), target: '≥ 0.7× B1, 0 errors', met: atLeast(s1, b1List, 0.7) },
    { scenario: 'S2 get `GET /documents/:id`', result: s2, ratio: ratio(s2, b1Get, 'B1'), target: '≥ 0.7× B1, 0 errors', met: atLeast(s2, b1Get, 0.7) },
    { scenario: 'S3 search `GET /documents/search?q=`', result: s3, target: '0 errors', met: noErrors(s3) },
    { scenario: 'S4 create `POST /documents`', result: s4, target: '0 errors', met: noErrors(s4) },
    { scenario: 'S5 batch `POST /documents/batch` ×100', result: s5, throughput: s5 ? `${s5.rps.toFixed(1)} (${(s5.rps * 100).toFixed(0)} docs/s)` : undefined, target: '≥ 20,000 docs/s, 0 errors', met: s5 ? s5.rps * 100 >= 20_000 && s5.errors === 0 : null },
    { scenario: 'S6 login `POST /auth/login`', result: s6, target: '0 errors', met: noErrors(s6) },
    { scenario: 'S7 get during login storm', result: s7, ratio: s7 && s2 ? `p99 ${(s7.p99 / s2.p99).toFixed(2)}× S2` : '', target: 'p99 ≤ 2× S2 p99, 0 errors', met: s7 && s2 ? s7.p99 <= 2 * s2.p99 && s7.errors === 0 : null },
    { scenario: '(S7 storm: logins alongside)', result: s7Storm },
    { scenario: 'B1 floor list (bare Fastify + postgres.js)', result: b1List, ratio: ratio(b1List, b2List, 'B2') },
    { scenario: 'B1 floor get', result: b1Get, ratio: ratio(b1Get, b2Get, 'B2') },
    { scenario: 'B2 floor list (pgbench, same SQL)', result: b2List, note: pgbenchNote },
    { scenario: 'B2 floor get (pgbench, same SQL)', result: b2Get, note: pgbenchNote },
    { scenario: 'H `GET /health/live` (framework + plugins, no DB)', result: live },
  ];

  const details = machine(ROOT, {
    mode: `${quick ? 'quick' : 'full'} (${durationS} s per scenario, S6/S7 ${loginOpts.durationS} s; S1/S2 alternate with their B1 floor ${rounds}×, averaged)`,
    postgresql: `${pg.version} (${pg.source})`,
    pgbench: pgbenchBin ? await pgbenchVersion(pgbenchBin) : 'not found: B2 not measured',
    data: `${shape.users} users × ${shape.docsPerUser} documents (1.5–4.5 KB text each) + ~1 analysis per document`,
    load: `autocannon, ${connections} connections per scenario; API pool DB_POOL_MAX=${poolMax}; tokens of ${tokens.length} users via ${via}`,
  });
  const notes = [
    'One machine runs PostgreSQL, the API, the floor and the load generator: ratios from one run count, absolute numbers do not.',
    'errors = socket errors + timeouts + non-2xx responses. B2 runs pgbench with as many clients as the API has pool connections.',
    'S4/S5 create documents as an upload registers them (metadata, no extracted text); see docs/benchmarks.md.',
  ];
  let body = table(rows);
  if (args.profile) {
    await api.stop(); // the profile is written when the process exits
    body += `\n\n## Where the API's CPU time went (scenarios run: ${only ? [...only].join(', ') : 'all'})\n\n${summarizeProfile(profileDir)}`;
  }
  const md = markdown('offbase benchmark', details, body, notes);
  const dir = path.join(ROOT, 'bench/results');
  mkdirSync(dir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-').replace(/-\d\d\dZ$/, 'Z');
  const file = `${stamp}${quick ? '-quick' : ''}${only ? `-${[...only].join('-')}` : ''}.md`;
  writeFileSync(path.join(dir, file), md);
  // A partial run (--only) is kept under its own name but never replaces the latest full table.
  if (!only) writeFileSync(path.join(dir, 'latest.md'), md);
  process.stdout.write(`\n${md}\n`);
  log(`done in ${((Date.now() - started) / 1000).toFixed(0)} s; written to bench/results/${only ? file : 'latest.md'}`);
} finally {
  for (const c of children.reverse()) await c.stop();
  const admin = postgres(pg.adminUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`drop database if exists ${runDb} with (force)`).catch(() => {});
  await admin.end();
  await pg.stop();
}
