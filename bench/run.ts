// `npm run bench [-- --quick] [--duration S] [--only S1,S2,...]`
// Seeds (or reuses) a database, starts the API in production mode and the floor server (B0,
// B1, B4, B5, B6) as child processes, both bundled as the image runs the API (--tsx: both
// through tsx), runs pgbench for B2, drives S1–S7 with autocannon,
// measures the CPU of the API, the floor and PostgreSQL from /proc around every run, and
// writes one table to bench/results/. See docs/benchmarks.md for what each row means.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { build } from 'esbuild';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import postgres from 'postgres';
import { loadConfig } from '../src/config.js';
import { settleAfterWrites, startBenchPostgres, withDatabase } from './lib/database.js';
import { cpuPerRequest, load, mean, type LoadResult, type Req } from './lib/load.js';
import { findPgbench, pgbench, pgbenchVersion } from './lib/pgbench.js';
import { findPgBouncer, startPgBouncer } from '../test/helpers/pgbouncer.js';
import { meter, memoryMb, processCpuS } from './lib/proc.js';
import { imageRuntimeEnv, startChild, type Child } from './lib/processes.js';
import { summarizeProfile } from './lib/profile.js';
import { fmtMs, machine, markdown, table, type Row } from './lib/report.js';
import { scenarios, type Population } from './lib/scenarios.js';
import { acquireTokens } from './lib/sessions.js';
import { ensureTemplate } from './lib/seed.js';
import { pgbenchScripts } from './lib/sql.js';
import { COMMON_SEARCH_TERMS, RARE_SEARCH_TERMS } from './lib/text.js';
import { startOtlpSink } from './lib/otlp-sink.js';
import { buildDist, bundleOptions } from '../scripts/build.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    duration: { type: 'string' },
    connections: { type: 'string', default: '32' },
    only: { type: 'string' },
    'pool-max': { type: 'string', default: '10' },
    // Runs the API and the floor under node --cpu-prof and appends where each one's CPU time went.
    profile: { type: 'boolean', default: false },
    // Runs the API (src/server.ts) and the floor through tsx's loader instead of bundled.
    tsx: { type: 'boolean', default: false },
    // Runs the API with tracing on, exporting to an in-process OTLP sink that answers 200 and
    // counts what it gets (the cost of tracing without a collector's own CPU in the figures).
    otel: { type: 'boolean', default: false },
  },
});
const quick = args.quick!;
const durationS = Number(args.duration ?? (quick ? 2 : 10));
const rounds = quick ? 1 : 3;
const connections = Number(args.connections);
const poolMax = Number(args['pool-max']);
const only = args.only ? new Set(args.only.split(',').map((s) => s.trim().toUpperCase())) : null;
// C1, C2, L2, A1, A2, C3, C4, P1 and P2 are compared with the rows (and floors) that do the same
// natively, so asking for them runs those too.
const implied: Record<string, string[]> = { S1: ['C2', 'L2', 'P1'], S2: ['C1', 'A1', 'A2', 'P2'], S4: ['C3'], W1: ['C4'] };
const wanted = (id: string) => !only || only.has(id) || (implied[id] ?? []).some((c) => only.has(c));
const shape = quick ? { users: 200, docsPerUser: 25 } : { users: 200, docsPerUser: 500 };
const started = Date.now();
const log = (m: string) => process.stderr.write(`[bench ${((Date.now() - started) / 1000).toFixed(1).padStart(5)} s] ${m}\n`);

const pg = await startBenchPostgres(ROOT, log);
const children: Child[] = [];
const otlpSink = args.otel ? await startOtlpSink() : null;
const runDb = 'bench_run';
const apiAdminUrl = withDatabase(pg.adminUrl, runDb);
try {
  const secret = randomBytes(48).toString('base64url');
  const anonKey = randomBytes(32).toString('base64url');
  const apiEnv = {
    NODE_ENV: 'production',
    DATABASE_URL: withDatabase(pg.adminUrl, runDb),
    JWT_SECRET: secret,
    MFA_ENCRYPTION_KEY: randomBytes(48).toString('base64url'),
    MIGRATE_ON_BOOT: 'true',
    DB_POOL_MAX: String(poolMax),
    LOG_LEVEL: 'info',
    // S6 measures login itself; the limiter would turn the storm into 429s.
    RATE_LIMIT_ENABLED: 'false',
    // C1/C2 call the supabase-js surface, which needs the anon key.
    OFFBASE_ANON_KEY: anonKey,
    // The image's runtime settings (its NODE_OPTIONS and MALLOC_* variables), read from the Dockerfile.
    ...imageRuntimeEnv(ROOT),
    ...(otlpSink ? { OTEL_EXPORTER_OTLP_ENDPOINT: otlpSink.url } : {}),
  };
  const config = loadConfig(apiEnv);

  const template = await ensureTemplate(pg.adminUrl, config, shape, log);
  const admin = postgres(pg.adminUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`drop database if exists ${runDb} with (force)`);
  await admin.unsafe(`create database ${runDb} template ${template} strategy file_copy`);
  await admin.end();
  log(`cloned ${template} into ${runDb}`);

  mkdirSync(path.join(ROOT, '.data/bench'), { recursive: true });
  // With --profile the API and the floor each write a profile of their own, side by side in the report.
  const profiled = (dir: string) => {
    if (args.profile) rmSync(dir, { recursive: true, force: true });
    return args.profile ? ['--cpu-prof', `--cpu-prof-dir=${dir}`] : [];
  };
  const profileDir = path.join(ROOT, '.data/bench/profile');
  const floorProfileDir = path.join(ROOT, '.data/bench/profile-floor');
  const nodeArgs = profiled(profileDir);
  const floorNodeArgs = profiled(floorProfileDir);
  // The API as the image runs it (dist/, `npm run build`), and the floor bundled alike, so
  // neither pays a loader the other does not.
  const bundled = !args.tsx;
  let apiEntry = 'src/server.ts';
  let floorEntry = 'bench/floor-server.ts';
  if (bundled) {
    const dist = path.join(ROOT, 'dist/server.js');
    // The bundle holds the dependencies too: an install, or scripts/patch-postgres.mjs editing
    // postgres.js after one, makes it stale as much as a change in src/ does.
    const inputs = [newestMtime(path.join(ROOT, 'src')), newestMtime(path.join(ROOT, 'node_modules/postgres/src'))];
    for (const file of ['scripts/build.ts', 'node_modules/.package-lock.json']) if (existsSync(path.join(ROOT, file))) inputs.push(statSync(path.join(ROOT, file)).mtimeMs);
    if (!existsSync(dist) || statSync(dist).mtimeMs < Math.max(...inputs)) {
      log('dist/ is absent or older than src/ or the installed dependencies: npm run build');
      await buildDist();
    }
    const floorDir = path.join(ROOT, '.data/bench/floor');
    await build(bundleOptions([path.join(ROOT, 'bench/floor-server.ts')], floorDir));
    apiEntry = 'dist/server.js';
    floorEntry = path.relative(ROOT, path.join(floorDir, 'floor-server.js'));
  }
  const api = await startChild(ROOT, apiEntry, apiEnv, path.join(ROOT, '.data/bench/api.log'), '/health/ready', nodeArgs);
  children.push(api);
  const { memoryCost, timeCost, parallelism } = config.auth.argon2;
  const floorEnv = { ...imageRuntimeEnv(ROOT), DATABASE_URL: apiEnv.DATABASE_URL, DB_POOL_MAX: String(poolMax), ARGON2_MEMORY_KIB: String(memoryCost), ARGON2_TIME_COST: String(timeCost), ARGON2_PARALLELISM: String(parallelism) };
  const floor = await startChild(ROOT, floorEntry, floorEnv, path.join(ROOT, '.data/bench/floor.log'), '/floor/documents?owner=00000000-0000-0000-0000-000000000000', floorNodeArgs);
  children.push(floor);
  // CPU and RSS when ready: on a shared machine the boot's CPU time is the steadier figure.
  const apiReadyRss = memoryMb(api.pid)?.rss ?? null;
  const apiBootCpuS = processCpuS(api.pid);
  log(`API (${apiEntry}, ${JSON.stringify(imageRuntimeEnv(ROOT))}) at ${api.baseUrl} (NODE_ENV=production, pool ${poolMax}), ready ${api.readyMs.toFixed(0)} ms after spawn; floors (${floorEntry}) at ${floor.baseUrl}`);

  const tokenCount = quick ? 50 : shape.users;
  const { tokens, via } = await acquireTokens(api.baseUrl, apiEnv.DATABASE_URL, secret, tokenCount, log);
  log(`${tokens.length} access tokens via ${via}`);
  const pop: Population = { ...shape, tokens, runId: `run-${Date.now().toString(36)}` };
  const opts: { connections: number; durationS: number; rate?: number } = { connections, durationS };

  // A login takes over a second under a storm on 2 cores: S6/S7 need a few seconds to say anything.
  const loginOpts = { connections, durationS: Math.max(durationS, 3) };

  const cpuText = (r: LoadResult) => {
    const c = cpuPerRequest(r);
    return `CPU/req ${fmtMs(c.app)} ms app + ${fmtMs(c.pg)} ms PostgreSQL, peak RSS ${r.usage?.rssPeakMb?.toFixed(0) ?? '–'} MB`;
  };
  /** One load run, with the CPU of `pid` (the API or the floor) and of PostgreSQL around it. */
  const measure = async (id: string, label: string, baseUrl: string, pid: number, next: () => Req, o = opts): Promise<LoadResult | null> => {
    if (!wanted(id)) return null;
    log(`${label}: ${connections} connections, ${o.durationS} s`);
    const m = meter(pid, pg.dataDir);
    const r = await load(baseUrl, next, o);
    r.usage = await m.stop();
    const bad = Object.entries(r.statuses).filter(([s]) => !s.startsWith('2'));
    log(`  ${r.rps.toFixed(0)} req/s, p50 ${r.p50} ms, p99 ${r.p99} ms, errors ${r.errors}${bad.length ? ` (${bad.map(([s, n]) => `${s}×${n}`).join(', ')})` : ''}; ${cpuText(r)}`);
    return r;
  };

  // Warm-up: JIT, prepared statements, PostgreSQL's buffer cache. Not measured.
  log('warming up');
  const warm = { connections, durationS: quick ? 1 : 3 };
  await load(floor.baseUrl, scenarios.floorGet(pop), warm);
  await load(api.baseUrl, scenarios.get(pop), warm);
  await load(api.baseUrl, scenarios.list(pop), warm);

  const pgbenchBin = findPgbench();
  const scripts = pgbenchScripts(shape.users, shape.docsPerUser, { common: COMMON_SEARCH_TERMS, rare: RARE_SEARCH_TERMS });
  const runPgbench = async (ids: string[], label: string, script: string) => {
    if (!ids.some(wanted) || !pgbenchBin) return null;
    log(`${label} pgbench: ${poolMax} clients, ${durationS} s`);
    const m = meter(null, pg.dataDir);
    const r = await pgbench(pgbenchBin, apiEnv.DATABASE_URL, script, { clients: poolMax, durationS });
    // Its backends exit as pgbench ends; give the postmaster a moment to reap them.
    r.usage = await m.stop(300);
    log(`  ${r.rps.toFixed(0)} tx/s, p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms; ${cpuText(r)}`);
    return r;
  };
  const b2List = await runPgbench(['B2', 'S1'], 'B2 list', scripts.list);
  const b2Get = await runPgbench(['B2', 'S2'], 'B2 get', scripts.get);
  const b2SearchCommon = await runPgbench(['B2', 'S3'], 'B2 search, common words', scripts.searchCommon);
  const b2SearchRare = await runPgbench(['B2', 'S3'], 'B2 search, rare words', scripts.searchRare);

  // Each scenario with an HTTP floor is paired with its floor run right before it,
  // alternating `rounds` times, so a noisy neighbour on the machine hits both sides alike.
  // Then the floor once more at the API's request rate: CPU per request depends on the rate
  // (PostgreSQL's and the process's both rise as the rate falls: fewer requests share each
  // wake-up), so the floor at the API's rate shows what the API itself adds per request.
  // Each round's own ratios (req/s, CPU), so the report shows how far one pair moves from the
  // next on this machine, beside the ratio of the rounds' means that the verdict uses.
  const perRound = new Map<string, { floor: LoadResult; api: LoadResult }[]>();
  const paired = async (id: string, floorLabel: string, floorNext: () => Req, label: string, apiNext: () => Req, servers: { api: Child; floor: Child } = { api, floor }) => {
    const floors: LoadResult[] = [];
    const runs: LoadResult[] = [];
    for (let round = 0; round < rounds; round++) {
      const f = await measure(id, floorLabel, servers.floor.baseUrl, servers.floor.pid, floorNext);
      const r = await measure(id, label, servers.api.baseUrl, servers.api.pid, apiNext);
      if (f) floors.push(f);
      if (r) runs.push(r);
      if (f && r) perRound.set(id, [...(perRound.get(id) ?? []), { floor: f, api: r }]);
    }
    const [floorMean, apiMean] = [mean(floors), mean(runs)];
    const atRate =
      floorMean && apiMean && apiMean.rps < floorMean.rps
        ? await measure(id, `${floorLabel} at ${label}'s rate (${apiMean.rps.toFixed(0)} req/s)`, servers.floor.baseUrl, servers.floor.pid, floorNext, { ...opts, rate: apiMean.rps })
        : null;
    return [floorMean, apiMean, atRate] as const;
  };
  const [b1List, s1, b1ListAtRate] = await paired('S1', 'B1 floor list', scenarios.floorList(pop), 'S1 list', scenarios.list(pop));
  const [b1Get, s2, b1GetAtRate] = await paired('S2', 'B1 floor get', scenarios.floorGet(pop), 'S2 get', scenarios.get(pop));
  const [b0, live, b0AtRate] = await paired('H', 'B0 floor live', scenarios.floorLive(), 'H GET /health/live', scenarios.live());
  // L2: S1's next page, through each user's cursor from S1's page (fetched here, not measured),
  // once, against S1: a later page should cost what the first one does.
  let l2: LoadResult | null = null;
  if (wanted('L2')) {
    const cursors = await Promise.all(
      pop.tokens.map(async (token) => {
        const res = await fetch(`${api.baseUrl}/api/v1/documents?limit=20`, { headers: { authorization: `Bearer ${token}` } });
        const body = (await res.json()) as { next_cursor?: string | null };
        if (res.status !== 200 || !body.next_cursor) throw new Error(`L2: no cursor after the first page (${res.status})`);
        return body.next_cursor;
      }),
    );
    l2 = await measure('L2', 'L2 list, the next page', api.baseUrl, api.pid, scenarios.listAfter(pop, cursors));
  }
  // C1/C2: the same reads through /rest/v1 as supabase-js sends them, once each, against the
  // floors' means above and the native routes' (no target of their own: issue 13 is silent).
  const c1 = await measure('C1', 'C1 compat get', api.baseUrl, api.pid, scenarios.compatGet(pop, anonKey));
  const c2 = await measure('C2', 'C2 compat list', api.baseUrl, api.pid, scenarios.compatList(pop, anonKey));
  // A1/A2: the signed-in user, natively and as supabase-js asks for it, against S2 (one read by id).
  const a1 = await measure('A1', 'A1 me', api.baseUrl, api.pid, scenarios.me(pop));
  const a2 = await measure('A2', 'A2 compat getUser', api.baseUrl, api.pid, scenarios.compatUser(pop, anonKey));
  // P1/P2: S1's and S2's reads behind a transaction pooler, as a task behind RDS Proxy or
  // PgBouncer runs them (DB_PREPARE=false: every statement parsed and planned per execution), a
  // second API and floor through one PgBouncer with the pool's size of server connections.
  // Against their floor through the same PgBouncer, unprepared alike, and against S1/S2. No
  // target (issue 13 is silent); PgBouncer's own CPU is in neither column.
  type Paired = readonly [LoadResult | null, LoadResult | null, LoadResult | null];
  let p1: Paired = [null, null, null];
  let p2: Paired = [null, null, null];
  const bouncerBin = ['P1', 'P2'].some(wanted) ? findPgBouncer() : null;
  if (['P1', 'P2'].some(wanted) && !bouncerBin) log('P1/P2: pgbouncer not found (apt-get install pgbouncer): not measured');
  if (bouncerBin) {
    const bouncer = await startPgBouncer(bouncerBin, pg.adminUrl, poolMax);
    const viaBouncer = bouncer.url(apiEnv.DATABASE_URL);
    const pooled = { DB_PREPARE: 'false', DATABASE_URL: viaBouncer };
    const started: Child[] = [];
    try {
      const start = async (...a: Parameters<typeof startChild>) => {
        const c = await startChild(...a);
        started.push(c);
        return c;
      };
      const servers = {
        api: await start(ROOT, apiEntry, { ...apiEnv, ...pooled, MIGRATE_ON_BOOT: 'false' }, path.join(ROOT, '.data/bench/api-pgbouncer.log'), '/health/ready', profiled(path.join(ROOT, '.data/bench/profile-pgbouncer'))),
        floor: await start(ROOT, floorEntry, { ...floorEnv, ...pooled }, path.join(ROOT, '.data/bench/floor-pgbouncer.log'), '/floor/documents?owner=00000000-0000-0000-0000-000000000000'),
      };
      log(`P1/P2: API and floor through PgBouncer (transaction pooling, ${poolMax} server connections, DB_PREPARE=false) at ${servers.api.baseUrl} and ${servers.floor.baseUrl}`);
      await load(servers.api.baseUrl, scenarios.get(pop), warm);
      await load(servers.floor.baseUrl, scenarios.floorGet(pop), warm);
      p1 = await paired('P1', 'B1 floor list via PgBouncer', scenarios.floorList(pop), 'P1 list via PgBouncer', scenarios.list(pop), servers);
      p2 = await paired('P2', 'B1 floor get via PgBouncer', scenarios.floorGet(pop), 'P2 get via PgBouncer', scenarios.get(pop), servers);
    } finally {
      for (const c of started) await c.stop();
      await bouncer.stop();
    }
  }
  const s3Common = await measure('S3', 'S3 search, common words', api.baseUrl, api.pid, scenarios.search(pop, COMMON_SEARCH_TERMS));
  const s3Rare = await measure('S3', 'S3 search, rare words', api.baseUrl, api.pid, scenarios.search(pop, RARE_SEARCH_TERMS));
  // The write scenarios leave vacuum and checkpoint work behind: done before the next scenario starts.
  const settle = async (id: string) => {
    if (id && id.split(', ').some(wanted)) log(`vacuum, analyze and checkpoint after ${id}'s writes: ${await settleAfterWrites(apiAdminUrl)} ms (not measured)`);
  };
  const [b4, s4, b4AtRate] = await paired('S4', 'B4 floor create', scenarios.floorCreate(pop), 'S4 create', scenarios.create(pop));
  await settle('S4');
  const [b5, s5, b5AtRate] = await paired('S5', 'B5 floor batch of 100', scenarios.floorBatch(pop), 'S5 batch of 100', scenarios.batch(pop));
  await settle('S5');
  // W1, C3, C4: an update, and S4's and W1's writes as supabase-js sends them, once each (no
  // targets: issue 13 is silent on them). W1 and C4 rewrite documents that have their text.
  const w1 = await measure('W1', 'W1 update', api.baseUrl, api.pid, scenarios.update(pop));
  const c3 = await measure('C3', 'C3 compat insert', api.baseUrl, api.pid, scenarios.compatInsert(pop, anonKey));
  const c4 = await measure('C4', 'C4 compat update', api.baseUrl, api.pid, scenarios.compatUpdate(pop, anonKey));
  await settle(['W1', 'C3', 'C4'].filter(wanted).join(', '));

  // B6: argon2id verifications in the floor process, as many at a time as there are cores.
  let b6: LoadResult | null = null;
  if (wanted('S6')) {
    log(`B6 argon2id verifications (${config.auth.argon2.memoryCost} KiB, t=${config.auth.argon2.timeCost}, p=${config.auth.argon2.parallelism}), ${loginOpts.durationS} s`);
    const m = meter(floor.pid, pg.dataDir);
    const res = await fetch(`${floor.baseUrl}/floor/argon2?seconds=${loginOpts.durationS}`, { method: 'POST', signal: AbortSignal.timeout((loginOpts.durationS + 30) * 1000) });
    const body = (await res.json()) as { verifications: number; seconds: number; lanes: number; p50: number; p99: number };
    if (res.status !== 200) throw new Error(`argon2 floor answered ${res.status}: ${JSON.stringify(body)}`);
    b6 = { requests: body.verifications, rps: body.verifications / body.seconds, p50: body.p50, p99: body.p99, errors: 0, statuses: {}, usage: await m.stop() };
    log(`  ${b6.rps.toFixed(1)} verifications/s on ${body.lanes} lanes, p50 ${body.p50.toFixed(0)} ms, p99 ${body.p99.toFixed(0)} ms; ${cpuText(b6)}`);
  }
  const s6 = await measure('S6', 'S6 login', api.baseUrl, api.pid, scenarios.login(pop), loginOpts);
  let s7: LoadResult | null = null;
  let s7Storm: LoadResult | null = null;
  let s7Both: LoadResult | null = null;
  if (wanted('S7')) {
    log(`S7 get during a login storm: S2 and S6 at ${connections} connections each, ${loginOpts.durationS} s`);
    const m = meter(api.pid, pg.dataDir);
    [s7, s7Storm] = await Promise.all([load(api.baseUrl, scenarios.get(pop), loginOpts), load(api.baseUrl, scenarios.login(pop), loginOpts)]);
    s7.usage = s7Storm.usage = await m.stop();
    // One API serves both loads: its CPU is per request of either kind.
    s7Both = { ...s7, requests: s7.requests + s7Storm.requests };
    log(`S7: ${s7.rps.toFixed(0)} req/s, p50 ${s7.p50} ms, p99 ${s7.p99} ms, errors ${s7.errors}; storm ${s7Storm.rps.toFixed(1)} logins/s, errors ${s7Storm.errors}; ${cpuText(s7Both)}`);
  }
  // The API's lifetime peak (boot and warm-up included), read before --profile stops it.
  const apiHwm = memoryMb(api.pid)?.hwm ?? null;

  type R = LoadResult | null;
  const both = (a: R, b: R): [LoadResult, LoadResult] | null => (a && b ? [a, b] : null);
  const x = (n: number) => `${n.toFixed(2)}×`;
  const rpsRatio = (a: R, b: R) => (both(a, b) ? a!.rps / b!.rps : null);
  /** Floor CPU per request over the row's: above 1, the row costs less than its floor. */
  const cpuRatio = (a: R, b: R) => {
    const ca = cpuPerRequest(a).total;
    const cb = cpuPerRequest(b).total;
    return ca && cb ? cb / ca : null;
  };
  const show = (n: number | null) => (n === null ? '' : x(n));
  /** A ratio beside its target: with three decimals where two would round a miss up to the target. */
  const against = (n: number | null, k: number) => (n !== null && n < k && Number(n.toFixed(2)) >= k ? `${n.toFixed(3)}×` : show(n));
  const judge = (n: number | null, k: number, a: R) => (n === null || !a ? null : n >= k && a.errors === 0);
  /**
   * A row judged as "≥ k× floor": req/s and CPU ratios, met by each. The CPU verdict is against
   * the floor flat out; the ratio to the floor at the row's own rate (`atRate`) is shown beside it.
   */
  const vsFloor = (a: R, b: R, floorName: string, k: number, atRate: R = null) => {
    const r = rpsRatio(a, b);
    const c = cpuRatio(a, b);
    const same = cpuRatio(a, atRate);
    const cpuText = same === null ? against(c, k) : `${against(c, k)} (${x(same)} at its rate)`;
    return { floor: floorName, ratio: against(r, k), cpuRatio: cpuText, target: `≥ ${k}× ${floorName.split(' ')[0]}, 0 errors`, met: judge(r, k, a), metCpu: judge(c, k, a) };
  };
  const search = (label: string, a: R, b2: R): Row => {
    const r = rpsRatio(a, s1);
    const p = both(a, s1) ? a!.p99 / s1!.p99 : null;
    const c = cpuRatio(a, s1);
    const vsB2 = rpsRatio(a, b2);
    return {
      scenario: label,
      result: a,
      floor: 'S1 (B2 search)',
      ratio: r === null ? '' : `${x(r)}, p99 ${x(p!)}${vsB2 === null ? '' : ` (${x(vsB2)} B2)`}`,
      cpuRatio: show(c),
      target: 'req/s ≥ 0.5× S1 and p99 ≤ 2× S1 p99, 0 errors',
      met: r === null ? null : r >= 0.5 && p! <= 2 && a!.errors === 0,
      metCpu: judge(c, 0.5, a),
    };
  };
  /** A supabase-js row: its ratio to the floor and to the native route that reads the same; no target. */
  const compat = (label: string, a: R, b: R, floorName: string, native: R, nativeName: string): Row => {
    const r = rpsRatio(a, b);
    const n = rpsRatio(a, native);
    const c = cpuRatio(a, b);
    const cn = cpuRatio(a, native);
    return {
      scenario: label,
      result: a,
      floor: `${floorName} (${nativeName})`,
      ratio: r === null ? '' : `${x(r)}${n === null ? '' : ` (${x(n)} ${nativeName})`}`,
      cpuRatio: c === null ? '' : `${x(c)}${cn === null ? '' : ` (${x(cn)} ${nativeName})`}`,
      target: '(none: as S1/S2, for comparison)',
      met: null,
    };
  };
  const docs = (r: R) => (r ? `${r.rps.toFixed(1)} (${(r.rps * 100).toFixed(0)} docs/s)` : undefined);
  const s5Floor = vsFloor(s5, b5, 'B5 batch', 0.7, b5AtRate);
  const s7p = both(s7, s2) ? s7!.p99 / s2!.p99 : null;
  const pgbenchNote = pgbenchBin ? undefined : 'pgbench not found';
  const rows: Row[] = [
    { scenario: 'S1 list `GET /documents?limit=20`', result: s1, ...vsFloor(s1, b1List, 'B1 list', 0.8, b1ListAtRate) },
    { scenario: 'S2 get `GET /documents/:id`', result: s2, ...vsFloor(s2, b1Get, 'B1 get', 0.8, b1GetAtRate) },
    { scenario: 'H `GET /health/live` (plugin stack, no DB)', result: live, ...vsFloor(live, b0, 'B0 live', 0.8, b0AtRate) },
    search('S3 search, common words', s3Common, b2SearchCommon),
    search('S3 search, rare words', s3Rare, b2SearchRare),
    { scenario: 'S4 create `POST /documents`', result: s4, ...vsFloor(s4, b4, 'B4 create', 0.7, b4AtRate) },
    {
      scenario: 'S5 batch `POST /documents/batch` ×100',
      result: s5,
      throughput: docs(s5),
      ...s5Floor,
      target: '≥ 20,000 docs/s and ≥ 0.7× B5, 0 errors',
      met: s5Floor.met === null ? null : s5Floor.met && s5!.rps * 100 >= 20_000,
    },
    { scenario: 'S6 login `POST /auth/login`', result: s6, ...vsFloor(s6, b6, 'B6 argon2id', 0.7) },
    { scenario: 'S7 get during login storm', result: s7, cpuOf: s7Both, floor: 'S2', ratio: s7p === null ? '' : `p99 ${x(s7p)}`, target: 'p99 ≤ 1.5× S2 p99, 0 errors', met: s7p === null ? null : s7p <= 1.5 && s7!.errors === 0 },
    { scenario: '(S7 storm: logins alongside)', result: s7Storm, cpuOf: s7Both },
    {
      scenario: 'L2 list, the next page `GET /documents?limit=20&cursor=…`',
      result: l2,
      floor: 'S1',
      ratio: show(rpsRatio(l2, s1)),
      cpuRatio: show(cpuRatio(l2, s1)),
      target: '(none: a later page against the first)',
      met: null,
    },
    ...(
      [
        ['A1 me `GET /api/v1/auth/me`', a1],
        ['A2 compat getUser `GET /auth/v1/user` (supabase-js `auth.getUser()`)', a2],
      ] as const
    ).map(([scenario, r]): Row => ({ scenario, result: r, floor: 'S2', ratio: show(rpsRatio(r, s2)), cpuRatio: show(cpuRatio(r, s2)), target: '(none: one read by id, as S2)', met: null })),
    { scenario: 'W1 update `PATCH /documents/:id` (one field, a document with its text)', result: w1, target: '(none)' },
    { scenario: 'C3 compat insert `POST /rest/v1/documents` (supabase-js `.insert(row)`)', result: c3, floor: 'S4', ratio: show(rpsRatio(c3, s4)), cpuRatio: show(cpuRatio(c3, s4)), target: '(none: as S4, for comparison)', met: null },
    { scenario: 'C4 compat update `PATCH /rest/v1/documents?id=eq.…` (supabase-js `.update(…).eq(…)`)', result: c4, floor: 'W1', ratio: show(rpsRatio(c4, w1)), cpuRatio: show(cpuRatio(c4, w1)), target: '(none: as W1, for comparison)', met: null },
    compat('C1 compat get `GET /rest/v1/documents?select=…&id=eq.…` (supabase-js `.single()`)', c1, b1Get, 'B1 get', s2, 'S2'),
    compat('C2 compat list `GET /rest/v1/documents?select=…&order=created_at.desc&limit=20`', c2, b1List, 'B1 list', s1, 'S1'),
    { ...compat('P1 list via PgBouncer (transaction pooling, `DB_PREPARE=false`)', p1[1], p1[0], 'B1 list via PgBouncer', s1, 'S1'), target: '(none: S1 behind a transaction pooler)' },
    { ...compat('P2 get via PgBouncer (transaction pooling, `DB_PREPARE=false`)', p2[1], p2[0], 'B1 get via PgBouncer', s2, 'S2'), target: '(none: S2 behind a transaction pooler)' },
    { scenario: 'B0 floor live (bare Fastify, same body)', result: b0 },
    { scenario: 'B1 floor list (bare Fastify + postgres.js)', result: b1List, floor: 'B2 list', ratio: show(rpsRatio(b1List, b2List)) },
    { scenario: 'B1 floor get', result: b1Get, floor: 'B2 get', ratio: show(rpsRatio(b1Get, b2Get)) },
    { scenario: 'B1 floor list via PgBouncer (unprepared)', result: p1[0], floor: 'B1 list', ratio: show(rpsRatio(p1[0], b1List)) },
    { scenario: 'B1 floor get via PgBouncer (unprepared)', result: p2[0], floor: 'B1 get', ratio: show(rpsRatio(p2[0], b1Get)) },
    { scenario: 'B2 list (pgbench, same SQL)', result: b2List, note: pgbenchNote },
    { scenario: 'B2 get (pgbench, same SQL)', result: b2Get, note: pgbenchNote },
    { scenario: 'B2 search, common words (pgbench, same SQL)', result: b2SearchCommon, note: pgbenchNote },
    { scenario: 'B2 search, rare words (pgbench, same SQL)', result: b2SearchRare, note: pgbenchNote },
    { scenario: 'B4 floor create (INSERT with its audit row, one statement)', result: b4 },
    { scenario: 'B5 floor batch ×100 (set-based INSERT with its audit rows, one statement)', result: b5, throughput: docs(b5) },
    { scenario: 'B6 argon2id verifications (all cores)', result: b6, throughput: b6 ? b6.rps.toFixed(1) : undefined },
    ...(
      [
        ['B0 live', b0AtRate, 'H'],
        ['B1 list', b1ListAtRate, 'S1'],
        ['B1 get', b1GetAtRate, 'S2'],
        ['B4 create', b4AtRate, 'S4'],
        ['B5 batch ×100', b5AtRate, 'S5'],
        ['B1 list via PgBouncer', p1[2], 'P1'],
        ['B1 get via PgBouncer', p2[2], 'P2'],
      ] as const
    )
      .filter(([, r]) => r)
      .map(([name, r, of]) => ({ scenario: `${name} floor at ${of}'s rate`, result: r, throughput: of === 'S5' ? docs(r) : undefined })),
  ];

  const apiPeak = Math.max(...[s1, s2, live, l2, c1, c2, a1, a2, p1[1], p2[1], w1, c3, c4, s3Common, s3Rare, s4, s5, s6, s7].map((r) => r?.usage?.rssPeakMb ?? 0));
  const ok = (b: boolean) => (b ? 'met' : '**missed**');
  const resources = [
    '| | measured | target | |',
    '|---|---:|---|:---:|',
    `| API boot, ${bundled ? 'bundled (`node dist/server.js`, as the image runs it)' : 'under tsx (`--tsx`; the image runs the bundle)'}: spawn to the first 200 from \`/health/ready\` (database up, migrations applied; CPU used by then ${apiBootCpuS === null ? '–' : `${(apiBootCpuS * 1000).toFixed(0)} ms`}, RSS ${apiReadyRss?.toFixed(0) ?? '–'} MB) | ${api.readyMs.toFixed(0)} ms | ≤ 1,000 ms | ${ok(api.readyMs <= 1000)} |`,
    `| floor boot, ${bundled ? 'bundled alike' : 'same loader'} (bare Fastify + postgres.js, one argon2 hash) | ${floor.readyMs.toFixed(0)} ms | | |`,
    `| API peak RSS, highest over the scenarios (per scenario: table above) | ${apiPeak ? `${apiPeak.toFixed(0)} MB` : '–'} | ≤ 200 MB | ${apiPeak ? ok(apiPeak <= 200) : ''} |`,
    `| API VmHWM at the end (lifetime peak: boot, token logins and warm-up included) | ${apiHwm === null ? '–' : `${apiHwm.toFixed(0)} MB`} | ≤ 200 MB | ${apiHwm === null ? '' : ok(apiHwm <= 200)} |`,
  ].join('\n');

  const details = machine(ROOT, {
    mode: `${quick ? 'quick' : 'full'} (${durationS} s per scenario, B6/S6/S7 ${loginOpts.durationS} s; S1, S2, H, S4 and S5 alternate with their floor ${rounds}×, averaged)${args.profile ? '; API and floor under --cpu-prof, which inflates their CPU' : ''}; API and floor ${bundled ? 'bundled (API from dist/, as the image runs it)' : 'from TypeScript through tsx (--tsx)'}${args.otel ? '; tracing on (OTLP to an in-process sink)' : ''}`,
    postgresql: `${pg.version} (${pg.source})`,
    pgbench: pgbenchBin ? await pgbenchVersion(pgbenchBin) : 'not found: B2 not measured',
    data: `${shape.users} users × ${shape.docsPerUser} documents (1.5–4.5 KB text each) + ~1 analysis per document`,
    load: `autocannon, ${connections} connections per scenario; API pool DB_POOL_MAX=${poolMax}; tokens of ${tokens.length} users via ${via}`,
  });
  const notes = [
    'One machine runs PostgreSQL, the API, the floor and the load generator: ratios from one run count, absolute numbers do not.',
    'errors = socket errors + timeouts + non-2xx responses. B2 runs pgbench with as many clients as the API has pool connections.',
    'CPU ms/req: utime + stime from /proc of the process serving the row (the API, or the floor process for B0-B6; none for pgbench) and of every PostgreSQL server process (the postmaster, its children, and the children it reaped), over the run, divided by its requests. S7 and its storm share one figure: the CPU of both loads over the requests of both.',
    'ratio (req/s): the row over its floor. ratio (CPU): the floor\'s CPU per request (API + PostgreSQL) over the row\'s, so 1.0 means "costs what the floor costs" and both ratios read the same way. The CPU verdict judges the throughput part of the target by that ratio.',
    'S4/S5 create documents as an upload registers them (metadata, no extracted text); see docs/benchmarks.md.',
    'P1/P2: a second API and floor, both with DB_PREPARE=false, through one PgBouncer in transaction pooling mode with as many server connections as the pool; PgBouncer\'s own CPU is in neither CPU column.',
  ];
  const roundsTable =
    rounds > 1 && perRound.size
      ? [
          `### Each round (${rounds} pairs of floor then API; the ratios above are of the rounds' means)`,
          '',
          '| Scenario | ratio (req/s) per round | ratio (CPU) per round |',
          '|---|---|---|',
          ...[...perRound].map(([id, pairs]) => {
            const each = (ratio: (a: R, b: R) => number | null) => pairs.map((p) => show(ratio(p.api, p.floor)) || '–').join(', ');
            return `| ${id} | ${each(rpsRatio)} | ${each(cpuRatio)} |`;
          }),
        ].join('\n')
      : '';
  let body = `${table(rows)}\n\n${roundsTable ? `${roundsTable}\n\n` : ''}### Memory and boot\n\n${resources}`;
  if (args.profile) {
    await api.stop(); // the profile is written when the process exits
    await floor.stop();
    body += `\n\n## Where the API's CPU time went (scenarios run: ${only ? [...only].join(', ') : 'all'})\n\n${summarizeProfile(profileDir)}`;
    body += `\n\n## Where the floor's CPU time went (the same scenarios' floors)\n\n${summarizeProfile(floorProfileDir)}`;
  }
  const md = markdown('offbase benchmark', details, body, notes);
  const dir = path.join(ROOT, 'bench/results');
  mkdirSync(dir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-').replace(/-\d\d\dZ$/, 'Z');
  const file = `${stamp}${quick ? '-quick' : ''}${only ? `-${[...only].join('-')}` : ''}.md`;
  writeFileSync(path.join(dir, file), md);
  // A partial run (--only) is kept under its own name but never replaces the latest full table.
  // A partial or quick run is kept under its own name; only a full run replaces the latest table.
  if (!only && !quick) writeFileSync(path.join(dir, 'latest.md'), md);
  process.stdout.write(`\n${md}\n`);
  log(`done in ${((Date.now() - started) / 1000).toFixed(0)} s; written to bench/results/${file}${only || quick ? '' : ' and latest.md'}`);
} finally {
  for (const c of children.reverse()) await c.stop();
  if (otlpSink) log(`OTLP sink received ${otlpSink.requests()} export requests, ${(otlpSink.bytes() / 1024).toFixed(0)} KiB`);
  otlpSink?.close();
  const admin = postgres(pg.adminUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`drop database if exists ${runDb} with (force)`).catch(() => {});
  await admin.end();
  await pg.stop();
}

/** The newest modification time of any file under dir. */
function newestMtime(dir: string): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) newest = Math.max(newest, statSync(path.join(e.parentPath, e.name)).mtimeMs);
  }
  return newest;
}
