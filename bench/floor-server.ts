// Floor B1: the bare minimum an HTTP API can do for S1 and S2 — Fastify, one postgres.js
// pool of the same size, the same SQL — with no auth, validation, ORM, audit or logging.
// The API's S1/S2 numbers are judged as a ratio to this.
import Fastify from 'fastify';
import postgres from 'postgres';
import { GET_SQL, LIST_SQL } from './lib/sql.js';

const sql = postgres(process.env.DATABASE_URL!, { max: Number(process.env.DB_POOL_MAX ?? 10), prepare: true, onnotice: () => {} });
const app = Fastify({ logger: false });

app.get('/floor/documents', async (request) => {
  const { owner, limit } = request.query as { owner: string; limit?: string };
  const n = Number(limit ?? 20);
  const rows = await sql.unsafe(LIST_SQL, [owner, n + 1], { prepare: true });
  return { data: rows.slice(0, n), next_cursor: rows.length > n ? String(rows[n - 1]!.id) : null };
});

app.get('/floor/documents/:id', async (request, reply) => {
  const { id } = request.params as { id: string };
  const { owner } = request.query as { owner: string };
  const [row] = await sql.unsafe(GET_SQL, [id, owner], { prepare: true });
  return row ?? reply.code(404).send({ code: 'not_found' });
});

const close = async () => {
  await app.close();
  await sql.end({ timeout: 2 });
  process.exit(0);
};
process.once('SIGTERM', close);
process.once('SIGINT', close);
await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT) });
