import { createHash, randomBytes, randomUUID } from 'node:crypto';
import argon2 from 'argon2';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../../src/errors/catalog.js';
import { buildTestApp, TEST_JWT_SECRET, type TestApp } from '../helpers/app.js';
import { builtinsSnapshot, scrubBuiltins } from '../helpers/prototypes.js';
import { mintSession, signAccessToken } from '../helpers/tokens.js';
import { createUserWithToken, type TestUser } from '../helpers/users.js';
import { mutatedBody, nastyJson, nastyString, protoJson, protoPrefer, protoQueryPair, rawBodies } from './arbitraries.js';
import { enumerateRoutes, type RouteInfo } from './route-list.js';

// Property-based fuzzing of every route the app registers, through app.inject. User A owns
// data; the fuzzer acts as user B (or as nobody, or with forged tokens) with A's ids in its
// pool. Reproduce a failure with FUZZ_SEED=<seed printed below>; FUZZ_RUNS changes the count.
const SEED = Number(process.env.FUZZ_SEED ?? randomBytes(4).readUInt32LE(0) >>> 1);
const RUNS = Number(process.env.FUZZ_RUNS ?? 10_000);

let t: TestApp;
let routes: RouteInfo[];
let a: TestUser;
let b: TestUser;
let bToken: string;
const aSecrets: string[] = []; // strings of A's that must never reach B
const aIds: string[] = [];
const bIds: string[] = [];
let snapshotA: () => Promise<string>;
let before = '';
// The Supabase-compatible surfaces answer in GoTrue's and PostgREST's error shapes instead.
const COMPAT_SURFACE = /^\/(auth|rest)\/v1\//;
const ANON_KEY = 'fuzz-anon-key-0123456789abcdef';
const builtins = builtinsSnapshot();

async function seedUser(user: TestUser, marker: string, ids: string[]) {
  const sql = t.testDb.sql;
  const hash = await argon2.hash(`pw-${marker}-${randomUUID()}`, { type: argon2.argon2id, memoryCost: 8192, timeCost: 1 });
  await sql`update users set password_hash = ${hash}, full_name = ${`Name ${marker}`} where id = ${user.id}`;
  const refresh = `refresh-${marker}-${randomBytes(16).toString('hex')}`;
  await sql`insert into refresh_tokens (session_id, token_hash) values (${user.sessionId}, ${createHash('sha256').update(refresh).digest('hex')})`;
  for (let i = 0; i < 3; i++) {
    const [doc] = await sql<{ id: string }[]>`
      insert into documents (owner_id, title, description, s3_bucket, s3_key, content_text, tags, metadata)
      values (${user.id}, ${`Title ${marker} ${i}`}, ${`Desc ${marker}`}, 'fuzz', ${`${marker}/${i}`}, ${`Body ${marker} contract liability ${i}`},
              ${[`tag${marker}`]}, ${sql.json({ marker })})
      returning id`;
    const [analysis] = await sql<{ id: string }[]>`
      insert into analyses (document_id, owner_id, kind, status, result, cost_usd)
      values (${doc!.id}, ${user.id}, 'summary', 'succeeded', ${sql.json({ summary: `Result ${marker}` })}, '0.001200') returning id`;
    ids.push(doc!.id, analysis!.id);
  }
  const [audit] = await sql<{ id: string }[]>`
    insert into audit_logs (actor_id, action, entity_type, entity_id, changes)
    values (${user.id}, 'document.create', 'document', ${ids[0]!}, ${sql.json({ title: { before: null, after: `Audit ${marker}` } })}) returning id::text`;
  ids.push(user.id, user.sessionId, audit!.id);
  return { hash, refresh };
}

beforeAll(async () => {
  t = await buildTestApp({ RATE_LIMIT_ENABLED: 'false', LOG_LEVEL: 'warn', OFFBASE_ANON_KEY: ANON_KEY });
  routes = enumerateRoutes(t.app);
  a = await createUserWithToken(t.app, { email: `fuzz-a-${randomUUID().slice(0, 8)}@example.com` });
  b = await createUserWithToken(t.app, { email: `fuzz-b-${randomUUID().slice(0, 8)}@example.com` });
  bToken = b.token;
  const markerA = `MARKA${randomBytes(6).toString('hex')}`;
  const secretsA = await seedUser(a, markerA, aIds);
  await seedUser(b, `MARKB${randomBytes(6).toString('hex')}`, bIds);
  aSecrets.push(markerA, a.email, a.token, secretsA.hash, secretsA.refresh, TEST_JWT_SECRET);
  snapshotA = async () => {
    const rows = await t.testDb.sql<{ j: string }[]>`
      select row_to_json(x)::text as j from (
        select 'user' as k, u.id::text, u.email, u.password_hash, u.full_name, u.role, u.disabled_at::text, u.updated_at::text from users u where u.id = ${a.id}
        union all select 'doc', d.id::text, d.title, d.status, d.description, d.content_text, d.metadata::text, d.updated_at::text from documents d where d.owner_id = ${a.id}
        union all select 'analysis', n.id::text, n.status, n.kind, n.result::text, n.cost_usd::text, n.document_id::text, n.updated_at::text from analyses n where n.owner_id = ${a.id}
        union all select 'session', s.id::text, s.revoked_at::text, s.expires_at::text, null, null, null, null from sessions s where s.user_id = ${a.id}
      ) x order by 1`;
    return rows.map((r) => r.j).join('\n');
  };
  before = await snapshotA();
  process.stdout.write(`fuzz: seed ${SEED}, ${RUNS} runs over ${routes.length} routes (reproduce with FUZZ_SEED=${SEED})\n`);
}, 120_000);

afterAll(async () => {
  await t?.close();
});

type AuthKind = 'b' | 'none' | 'garbage' | 'raw' | 'alg-none' | 'wrong-secret' | 'expired' | 'tampered' | 'b-with-a-sid' | 'a-sub-b-sid';

function authHeader(kind: AuthKind, junk: string): string | undefined {
  const claims = { sub: b.id, role: 'user', email: b.email, sid: b.sessionId };
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  switch (kind) {
    case 'b':
      return `Bearer ${bToken}`;
    case 'none':
      return undefined;
    case 'garbage':
      return `Bearer ${junk}`;
    case 'raw':
      return junk;
    case 'alg-none':
      return `Bearer ${b64({ alg: 'none', typ: 'JWT' })}.${b64({ ...claims, role: 'admin', iss: 'offbase', aud: 'authenticated', exp: 9e9 })}.`;
    case 'wrong-secret':
      return `Bearer ${signAccessToken({ ...claims, role: 'admin' }, 'not-the-secret-not-the-secret-not-the-secret')}`;
    case 'expired':
      return `Bearer ${signAccessToken(claims, TEST_JWT_SECRET, { ttlS: -60 })}`;
    case 'tampered': {
      const [h, , s] = bToken.split('.');
      return `Bearer ${h}.${b64({ ...claims, sub: a.id, role: 'admin', iss: 'offbase', aud: 'authenticated', exp: 9e9 })}.${s}`;
    }
    case 'b-with-a-sid':
      return `Bearer ${signAccessToken({ ...claims, sid: a.sessionId }, TEST_JWT_SECRET)}`;
    case 'a-sub-b-sid':
      return `Bearer ${signAccessToken({ ...claims, sub: a.id, email: a.email }, TEST_JWT_SECRET)}`;
  }
}

const HEADER_SAFE = /^[\t\x20-\x7e]*$/;
const safeHeader = (v: string) => (HEADER_SAFE.test(v) ? v : enc(v));
const PATH_SAFE = /^[A-Za-z0-9._~!$&'()*+,;=:@%-]*$/;
// Lone surrogates cannot be percent-encoded as UTF-8; raw invalid bytes come from NASTY_STRINGS.
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
const enc = (v: string) => encodeURIComponent(v.replace(LONE_SURROGATE, '\ufffd'));

interface FuzzRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  payload?: string;
  route: string;
  auth: AuthKind;
}

function requestArb(): fc.Arbitrary<FuzzRequest> {
  const ids = fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...aIds, ...bIds) }, { weight: 1, arbitrary: fc.uuid() });
  const segment = fc.oneof({ weight: 3, arbitrary: ids }, { weight: 2, arbitrary: nastyString });
  return fc.constantFrom(...routes).chain((route) => {
    const queryKeys = Object.keys(route.query);
    const queryPair = fc.oneof(
      { weight: queryKeys.length ? 3 : 0, arbitrary: queryKeys.length ? fc.constantFrom(...queryKeys).chain((k) => fc.tuple(fc.constant(k), fc.oneof(nastyString, ids, fc.integer().map(String)))) : fc.constant(['x', 'y'] as [string, string]) },
      { weight: 1, arbitrary: fc.tuple(nastyString, nastyString) },
      // __proto__, constructor, ... as query keys, embedding paths, columns, operators, aliases.
      { weight: route.url.startsWith('/rest/v1/') ? 4 : 1, arbitrary: protoQueryPair },
    );
    const body = fc.oneof(
      { weight: 2, arbitrary: fc.constant(undefined) },
      { weight: route.body ? 6 : 1, arbitrary: mutatedBody(route.body, ids).map((v) => JSON.stringify(v) ?? 'null') },
      { weight: 1, arbitrary: nastyJson.map((v) => JSON.stringify(v) ?? 'null') },
      { weight: 1, arbitrary: rawBodies },
      { weight: 1, arbitrary: protoJson.map((v) => JSON.stringify(v)) },
    );
    return fc.record({
      params: fc.array(segment, { minLength: 4, maxLength: 4 }),
      // /rest/v1/:table mostly names a real table, so the request reaches PostgREST's grammar.
      table: fc.oneof({ weight: 4, arbitrary: fc.constantFrom('documents', 'analyses') }, { weight: 1, arbitrary: segment }),
      encode: fc.boolean(),
      query: fc.array(queryPair, { maxLength: 4 }),
      body: ['GET', 'HEAD', 'OPTIONS'].includes(route.method) ? fc.oneof({ weight: 9, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: rawBodies }) : body,
      contentType: fc.oneof(
        { weight: 8, arbitrary: fc.constant('application/json') },
        { weight: 1, arbitrary: fc.constantFrom('text/plain', 'application/json; charset=utf-16', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/jsonx', '') },
        { weight: 1, arbitrary: nastyString },
      ),
      auth: fc.oneof(
        { weight: 10, arbitrary: fc.constant<AuthKind>('b') },
        { weight: 4, arbitrary: fc.constantFrom<AuthKind>('none', 'garbage', 'raw', 'alg-none', 'wrong-secret', 'expired', 'tampered', 'b-with-a-sid', 'a-sub-b-sid') },
      ),
      junk: nastyString,
      extra: fc.dictionary(
        fc.constantFrom('x-request-id', 'if-match', 'if-none-match', 'accept', 'prefer', 'origin', 'x-forwarded-for', 'range', 'apikey', 'constructor', 'prototype', 'tostring', 'hasownproperty'),
        fc.oneof({ weight: 4, arbitrary: nastyString }, { weight: 1, arbitrary: protoPrefer }),
        { maxKeys: 3 },
      ),
    }).map((r) => {
      let i = 0;
      const fill = (v: string) => (r.encode || !PATH_SAFE.test(v) ? enc(v) : v);
      // The catch-all OPTIONS route is printed as a bare `*`: it still needs a leading slash.
      const path = `/${route.url.replace(/:(\w+)/g, (_, name: string) => fill(name === 'table' ? r.table : r.params[i++]!)).replace(/\*$/, () => fill(r.params[3]!))}`.replace(/^\/\//, '/');
      const qs = r.query.map(([k, v]) => `${enc(k)}=${fill(v)}`).join('&');
      const headers: Record<string, string> = {};
      if (COMPAT_SURFACE.test(path)) headers.apikey = ANON_KEY;
      for (const [k, v] of Object.entries(r.extra)) headers[k] = safeHeader(v);
      const auth = authHeader(r.auth, r.junk);
      if (auth !== undefined) headers.authorization = safeHeader(auth);
      if (r.body !== undefined && r.contentType) headers['content-type'] = safeHeader(r.contentType);
      return { method: route.method, url: qs ? `${path}?${qs}` : path, headers, payload: r.body, route: `${route.method} ${route.url}`, auth: r.auth };
    });
  });
}

// Server-side text that must never reach a client; checked only when the request did not
// carry the same text (a document titled "syntax error" may come back as its title).
const LEAKS: [string, RegExp][] = [
  ['argon2 hash', /\$argon2(id|i|d)\$/],
  ['bcrypt hash', /\$2[abxy]\$\d\d\$/],
  ['SQL error', /PostgresError|syntax error at or near|violates (unique|foreign key|check|not-null) constraint|duplicate key value|invalid input syntax|current transaction is aborted|SQLSTATE|relation "\w+"/i],
  ['SQL text', /\bselect\b[^"]{0,200}\bfrom\s+"?(users|documents|sessions|analyses|refresh_tokens|audit_logs)\b/i],
  ['stack trace', /\n\s+at [^\n]+:\d+:\d+|node_modules|file:\/\/|\/src\/[\w/.-]+\.ts/],
];

// PostgREST answers a refused row with PostgreSQL's own message ("null value in column ...
// violates not-null constraint", "duplicate key value ...", 22P02's "invalid input syntax"):
// supabase-js code reads them, so /rest/v1 sends them by design. What it must never send
// is the rest: driver internals, SQL text, a broken transaction.
const REST_SQL_ERROR = /PostgresError|syntax error at or near|current transaction is aborted|SQLSTATE/i;

// The spec gives one code two statuses: a bad emailed (reset/verify) token is 400, a bad
// access token 401.
const ALSO_ANSWERED_WITH: Record<string, number[]> = { invalid_token: [400, 401] };

const counts = { total: 0, byStatus: {} as Record<number, number>, byRoute: {} as Record<string, number>, msByRoute: {} as Record<string, number>, remints: 0 };

async function fire(req: FuzzRequest): Promise<void> {
  const started = performance.now();
  const res = await t.app.inject({ method: req.method as 'GET', url: req.url, headers: req.headers, payload: req.payload });
  counts.msByRoute[req.route] = (counts.msByRoute[req.route] ?? 0) + performance.now() - started;
  counts.total++;
  counts.byStatus[res.statusCode] = (counts.byStatus[res.statusCode] ?? 0) + 1;
  counts.byRoute[req.route] = (counts.byRoute[req.route] ?? 0) + 1;
  const where = `${req.method} ${req.url.slice(0, 300)} (auth ${req.auth}) -> ${res.statusCode} ${res.body.slice(0, 500)}`;

  // Checked after every request, so a failure names the request that polluted (and the
  // built-ins are restored, so the requests after it are judged on their own).
  if (Object.keys(Object.prototype).length > 0 || builtinsSnapshot() !== builtins) {
    const polluted = Object.keys(Object.prototype);
    scrubBuiltins();
    throw new Error(`polluted a built-in prototype (${polluted.join(', ') || 'a function on Object.prototype'}): ${where}`);
  }
  expect(res.statusCode, `5xx: ${where}`).toBeLessThan(500);

  const isError = res.statusCode >= 400;
  if (isError && req.method !== 'HEAD') {
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(res.body) as Record<string, unknown>;
    } catch {
      throw new Error(`error body is not JSON: ${where}`);
    }
    if (req.url.startsWith('/auth/v1/')) {
      // GoTrue's shape, which auth-js parses: {code: <status>, error_code, msg[, weak_password]}.
      expect(Object.keys(body).filter((k) => !['code', 'error_code', 'msg', 'weak_password'].includes(k)), `extra keys: ${where}`).toEqual([]);
      expect(body.code, where).toBe(res.statusCode);
      expect(typeof body.error_code, where).toBe('string');
      expect(typeof body.msg, where).toBe('string');
    } else if (req.url.startsWith('/rest/v1/')) {
      // PostgREST's shape, which postgrest-js parses: {code, message, details, hint}.
      expect(Object.keys(body).sort(), `wrong keys: ${where}`).toEqual(['code', 'details', 'hint', 'message']);
      expect(typeof body.code, where).toBe('string');
      expect(typeof body.message, where).toBe('string');
    } else {
      expect(Object.keys(body).filter((k) => !['code', 'message', 'request_id', 'details'].includes(k)), `extra keys: ${where}`).toEqual([]);
      const statuses = ALSO_ANSWERED_WITH[body.code as string] ?? [ERROR_CODES[body.code as keyof typeof ERROR_CODES]];
      expect(statuses, `unknown code or wrong status: ${where}`).toContain(res.statusCode);
      expect(typeof body.message, where).toBe('string');
      expect(body.request_id, where).toBe(res.headers['x-request-id']);
      if (body.details !== undefined) {
        expect(Array.isArray(body.details), where).toBe(true);
        for (const d of body.details as { message?: unknown }[]) expect(typeof d?.message, where).toBe('string');
      }
    }
  }

  const out = `${res.body}\n${JSON.stringify(res.headers)}`;
  const sent = `${req.url}\n${JSON.stringify(req.headers)}\n${req.payload ?? ''}`;
  for (const [name, general] of LEAKS) {
    const pattern = name === 'SQL error' && req.url.startsWith('/rest/v1/') ? REST_SQL_ERROR : general;
    if (pattern.test(out) && !pattern.test(sent)) throw new Error(`leaks ${name}: ${where}`);
  }
  for (const secret of [...aSecrets, bToken]) {
    if (out.includes(secret)) throw new Error(`leaks a secret or user A's data: ${where}`);
  }
  for (const id of aIds.filter((x) => x.length === 36)) {
    if (out.includes(id) && !sent.includes(id)) throw new Error(`leaks user A's id ${id}: ${where}`);
  }

  // B's token is valid unless a fuzzed request just ended B's session (logout, password
  // change): then B signs in again, as a client would.
  const tokenRejected = res.statusCode === 401 && /"code":"(invalid_token|unauthorized)"/.test(res.body);
  expect(req.auth === 'b' && tokenRejected, `B's valid token was rejected: ${where}`).toBe(false);
  if (req.auth === 'b' && res.statusCode < 300 && /logout|password|sessions/.test(req.route)) {
    bToken = (await mintSession(t.testDb.sql, { id: b.id, email: b.email }, TEST_JWT_SECRET)).token;
    counts.remints++;
  }
}

describe('fuzz: every route', () => {
  // Cases the fuzzer found once, kept as fixed regressions.
  it('known hostile requests', async () => {
    const auth = { authorization: `Bearer ${bToken}` };
    const cases: FuzzRequest[] = [
      { method: 'DELETE', url: '/api/v1/analyses/%%?a=1', headers: auth, route: 'bad %-escape', auth: 'b' },
      { method: 'GET', url: '/health/live/%E0%A4%A', headers: {}, route: 'bad %-escape', auth: 'none' },
      // A lone surrogate is valid JSON but not valid jsonb: PostgreSQL refuses it (class 22).
      { method: 'PATCH', url: '/api/v1/auth/me', headers: { ...auth, 'content-type': 'application/json' }, payload: '{"preferences":{"a":"\\ud800"}}', route: 'lone surrogate', auth: 'b' },
      { method: 'POST', url: '/api/v1/documents', headers: { ...auth, 'content-type': 'application/json' }, payload: '{"title":"a\\u0000b","s3_bucket":"b","s3_key":"k"}', route: 'NUL in text', auth: 'b' },
      { method: 'POST', url: '/api/v1/documents/batch', headers: { ...auth, 'content-type': 'application/json' }, payload: '{"documents":null}', route: 'null batch', auth: 'b' },
      // Found by this fuzzer on the Supabase-compatible surfaces: a path segment over the
      // router's limit must still get PostgREST's shape, and a NUL in sign-up metadata is a 400.
      { method: 'GET', url: `/rest/v1/${'x'.repeat(300)}`, headers: { ...auth, apikey: ANON_KEY }, route: 'long table name', auth: 'b' },
      { method: 'POST', url: '/auth/v1/signup', headers: { apikey: ANON_KEY, 'content-type': 'application/json' }, payload: '{"email":"nul@example.com","password":"a long enough passphrase 1","data":{"k":["a\\u0000b"]}}', route: 'NUL in metadata', auth: 'none' },
      // The attack review's findings: prototype names in /rest/v1 query strings and headers
      // (with only the anon key), and JSON nested 5,000 levels.
      ...['__proto__.offset=1', 'toString.or=(title.eq.x)', '__proto__.order=title', 'constructor.order=title', '__proto__.title=eq.x', 'hasOwnProperty.limit=1', 'select=__proto__:analyses(*)'].map(
        (qs): FuzzRequest => ({ method: 'GET', url: `/rest/v1/documents?${qs}`, headers: { apikey: ANON_KEY }, route: 'prototype name', auth: 'none' }),
      ),
      { method: 'GET', url: '/rest/v1/documents', headers: { apikey: ANON_KEY, prefer: 'constructor=x' }, route: 'prototype name in Prefer', auth: 'none' },
      { method: 'POST', url: '/api/v1/documents', headers: { ...auth, 'content-type': 'application/json' }, payload: `{"title":"t","s3_bucket":"b","s3_key":"k","metadata":${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}}`, route: 'deep JSON', auth: 'b' },
      { method: 'POST', url: '/rest/v1/documents', headers: { ...auth, apikey: ANON_KEY, 'content-type': 'application/json' }, payload: `{"title":"t","s3_bucket":"b","s3_key":"k","metadata":${'['.repeat(5000)}${']'.repeat(5000)}}`, route: 'deep JSON', auth: 'b' },
    ];
    for (const c of cases) await fire(c);
  });


  it('never 5xx, one error shape, no leaks, no cross-user data', async () => {
    expect(routes.length).toBeGreaterThan(2);
    await fc.assert(
      fc.asyncProperty(requestArb(), async (req) => {
        await fire(req);
      }),
      { seed: SEED, numRuns: RUNS, endOnFailure: process.env.FUZZ_SHRINK !== '1' },
    );
    const slowest = Object.entries(counts.msByRoute).sort((x, y) => y[1] - x[1]).slice(0, 5).map(([r, ms]) => `${r} ${Math.round(ms)} ms`);
    process.stdout.write(`fuzz: ${counts.total} requests; statuses ${JSON.stringify(counts.byStatus)}; B re-signed in ${counts.remints}×; most time in ${slowest.join(', ')}\n`);
    // Every route was exercised, and the run was as large as promised.
    for (const r of routes) expect(counts.byRoute[`${r.method} ${r.url}`] ?? 0, `${r.method} ${r.url} never fuzzed`).toBeGreaterThan(0);
    if (!process.env.FUZZ_RUNS) expect(counts.total).toBeGreaterThanOrEqual(10_000);
  }, 600_000);

  it("left A's rows byte-for-byte unchanged, Object.prototype unpolluted, and A still served", async () => {
    expect(await snapshotA()).toBe(before);
    expect(Object.keys(Object.prototype)).toEqual([]);
    expect(builtinsSnapshot()).toBe(builtins);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    // Another user's next requests, on each surface, still answer.
    const asA = { authorization: `Bearer ${a.token}` };
    for (const [url, headers] of [
      ['/health/live', {}],
      ['/api/v1/documents', asA],
      ['/api/v1/auth/me', asA],
      ['/rest/v1/documents?select=id,title,analyses(id)', { ...asA, apikey: ANON_KEY }],
      ['/auth/v1/user', { ...asA, apikey: ANON_KEY }],
    ] as const) {
      const res = await t.app.inject({ method: 'GET', url, headers });
      expect(res.statusCode, `${url} → ${res.body.slice(0, 200)}`).toBe(200);
    }
  });
});
