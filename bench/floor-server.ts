// The floors: the bare minimum an HTTP API can do for each scenario — Fastify, one postgres.js
// pool of the API's size, the API's SQL (bench/lib/sql.ts) — with no auth, validation, ORM,
// logging, security headers or metrics. The API's rows are judged as a ratio to these.
//   B0  GET  /floor/live             the body of GET /health/live
//   B1  GET  /floor/documents        S1's statement;  GET /floor/documents/:id  S2's
//   B4  POST /floor/documents        S4's INSERT with its audit row, one statement (a CTE)
//   B5  POST /floor/documents/batch  S5's set-based INSERT with its audit rows, one statement in a transaction
//   B6  POST /floor/argon2           argon2id verifications at the production parameters
import { availableParallelism } from 'node:os';
import argon2 from 'argon2';
import Fastify, { type FastifyRequest } from 'fastify';
import postgres from 'postgres';
import { BATCH_AUDITED_SQL, CREATE_AUDITED_SQL, GET_SQL, listSql } from './lib/sql.js';

// DB_PREPARE=false as the API takes it behind a transaction pooler (bench P1/P2): no statement is
// prepared, whatever a query asks for.
const sql = postgres(process.env.DATABASE_URL!, { max: Number(process.env.DB_POOL_MAX ?? 10), prepare: process.env.DB_PREPARE !== 'false', onnotice: () => {} });
// The client as drizzle's postgres-js driver configures it for the API: dates and times pass
// through as text, json and jsonb parameters are sent as the JSON text they already are.
const asIs = (value: unknown) => value;
for (const oid of [1184, 1082, 1083, 1114, 1182, 1185, 1115, 1231]) {
  sql.options.parsers[oid] = asIs;
  sql.options.serializers[oid] = asIs;
}
sql.options.serializers[114] = asIs;
sql.options.serializers[3802] = asIs;
const app = Fastify({ logger: false, bodyLimit: 8 * 1024 * 1024 });

// A floor that fails is not a floor: errors go to .data/bench/floor.log and count in the row.
app.setErrorHandler((err, _request, reply) => {
  process.stderr.write(`floor: ${(err as Error).stack ?? String(err)}\n`);
  return reply.code(500).send({ code: 'internal_error' });
});

app.get('/floor/live', async () => ({ status: 'ok' }));

app.get('/floor/documents', async (request) => {
  const { owner, limit } = request.query as { owner: string; limit?: string };
  const n = Number(limit ?? 20);
  const rows = await sql.unsafe(listSql(n + 1), [owner], { prepare: true });
  return { data: rows.slice(0, n), next_cursor: rows.length > n ? String(rows[n - 1]!.id) : null };
});

app.get('/floor/documents/:id', async (request, reply) => {
  const { id } = request.params as { id: string };
  const { owner } = request.query as { owner: string };
  const [row] = await sql.unsafe(GET_SQL, [id, owner], { prepare: true });
  return row ?? reply.code(404).send({ code: 'not_found' });
});

interface NewDocument {
  title: string;
  description: string | null;
  s3_bucket: string;
  s3_key: string;
  content_type: string | null;
  size_bytes: number | null;
  tags: string[];
  metadata: Record<string, unknown>;
}

const requestMeta = (request: FastifyRequest) => [request.id, request.ip, request.headers['user-agent']?.slice(0, 512) ?? null];

// The document and its audit row in one statement, as the API writes them (lib/sql.ts).
app.post('/floor/documents', async (request, reply) => {
  const { owner } = request.query as { owner: string };
  const d = request.body as NewDocument;
  const [row] = await sql.unsafe(
    CREATE_AUDITED_SQL,
    [owner, d.title, d.description, d.s3_bucket, d.s3_key, d.content_type, d.size_bytes, d.tags as never, JSON.stringify(d.metadata), ...requestMeta(request)],
    { prepare: true },
  );
  return row ? reply.code(201).send(row) : reply.code(409).send({ code: 'conflict' });
});

app.post('/floor/documents/batch', async (request, reply) => {
  const { owner } = request.query as { owner: string };
  const { documents } = request.body as { documents: NewDocument[] };
  const rows = await sql.begin((tx) => tx.unsafe(BATCH_AUDITED_SQL, [owner, JSON.stringify(documents), ...requestMeta(request)], { prepare: true }));
  return reply.code(rows.length === documents.length ? 201 : 409).send({ data: rows });
});

// B6 is not an HTTP floor: the hash is the limit of a login, so this measures how many
// verifications the machine's cores do per second, `concurrency` (default: the core count)
// at a time, at the parameters the bench passes (the production defaults of src/config.ts).
const password = 'bench-floor-password-7';
const params = { type: argon2.argon2id, memoryCost: Number(process.env.ARGON2_MEMORY_KIB), timeCost: Number(process.env.ARGON2_TIME_COST), parallelism: Number(process.env.ARGON2_PARALLELISM) };
const hashed = await argon2.hash(password, params);
app.post('/floor/argon2', async (request) => {
  const { seconds, concurrency } = request.query as { seconds: string; concurrency?: string };
  const until = Date.now() + Number(seconds) * 1000;
  const lanes = Number(concurrency ?? availableParallelism());
  const latencies: number[] = [];
  const started = performance.now();
  await Promise.all(
    Array.from({ length: lanes }, async () => {
      while (Date.now() < until) {
        const t = performance.now();
        if (!(await argon2.verify(hashed, password))) throw new Error('argon2 floor: verification failed');
        latencies.push(performance.now() - t);
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? NaN;
  return { verifications: latencies.length, seconds: elapsed, lanes, p50: pct(50), p99: pct(99), params: { memoryCost: params.memoryCost, timeCost: params.timeCost, parallelism: params.parallelism } };
});

const close = async () => {
  await app.close();
  await sql.end({ timeout: 2 });
  process.exit(0);
};
process.once('SIGTERM', close);
process.once('SIGINT', close);
await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT) });
