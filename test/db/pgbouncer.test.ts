import { and, count, eq, sql } from 'drizzle-orm';
import type { FastifyInstance } from 'fastify';
import postgres from 'postgres';
import { inject } from 'vitest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { audit_logs, documents } from '../../src/db/schema/index.js';
import { recordAudit } from '../../src/features/audit/record.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { createEmptyDatabase, createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { findPgBouncer, startPgBouncer, type PgBouncer } from '../helpers/pgbouncer.js';
import { spawnServer, stopServer, waitForStatus, type ServerProcess } from '../helpers/process.js';
import { createUserWithToken, type TestUser } from '../helpers/users.js';

// DB_PREPARE=false behind a transaction pooler (PgBouncer here; RDS Proxy behaves alike):
// the app boots, answers health, and does transactional writes and reads, concurrently,
// through far fewer server connections than clients. Migrations use the direct endpoint.
//
// CI installs pgbouncer (.ci/run) and this file fails there if it is missing; a developer
// without it gets a skip with the reason.

const binary = findPgBouncer();
if (!binary && process.env.CI === 'true') {
  throw new Error('pgbouncer is not installed but CI=true: install it (apt-get install -y pgbouncer); .ci/run does');
}
if (!binary) process.stderr.write('test/db/pgbouncer.test.ts skipped: pgbouncer not installed (apt-get install -y pgbouncer)\n');

/** A transactional write shaped like the features': the row and its audit entry together. */
function probeRoutes(app: FastifyInstance) {
  app.post('/probe/documents', { preHandler: app.authenticate }, async (request, reply) => {
    const { title, fail } = request.body as { title: string; fail?: boolean };
    const id = await app.db.transaction(async (tx) => {
      const [doc] = await tx
        .insert(documents)
        .values({ owner_id: request.user!.sub, title, s3_bucket: 'b', s3_key: `k/${title}` })
        .returning({ id: documents.id });
      await recordAudit(tx, request.ctx.audit, { actor_id: request.user!.sub, action: 'document.create', entity_type: 'document', entity_id: doc!.id });
      if (fail) throw new Error('forced rollback');
      return doc!.id;
    }).catch((err: Error) => (err.message === 'forced rollback' ? null : Promise.reject(err)));
    return reply.code(id ? 201 : 409).send({ id });
  });
  app.get('/probe/documents', { preHandler: app.authenticate }, async (request) => {
    const [row] = await request.readDb.select({ n: count() }).from(documents).where(eq(documents.owner_id, request.user!.sub));
    return { count: row!.n };
  });
}

describe.skipIf(!binary)('behind PgBouncer (transaction pooling) with DB_PREPARE=false', () => {
  let bouncer: PgBouncer;
  let t: TestApp;
  let db: TestDatabase;
  let user: TestUser;
  const procs: ServerProcess[] = [];
  const dbs: TestDatabase[] = [];

  beforeAll(async () => {
    bouncer = await startPgBouncer(binary!, inject('adminUrl'));
    db = await createTestDatabase();
    // PgBouncer logs in to PostgreSQL as the admin user (test/helpers/pgbouncer.ts).
    const pooled = { ...db, url: bouncer.url(db.url), appUrl: bouncer.url(db.url) };
    t = await buildTestApp({ DB_PREPARE: 'false', DB_POOL_MAX: '20' }, { testDb: pooled, extend: probeRoutes });
    user = await createUserWithToken(t.app);
  });
  afterAll(async () => {
    await Promise.all(procs.map(stopServer));
    await t?.close();
    await db?.drop();
    await Promise.all(dbs.map((d) => d.drop()));
    await bouncer?.stop();
  });

  /** PgBouncer's admin console speaks only the simple query protocol. */
  async function console_(command: string): Promise<Record<string, unknown>[]> {
    const user = new URL(inject('adminUrl')).username;
    const admin = postgres(`postgres://${user}@127.0.0.1:${bouncer.port}/pgbouncer`, { max: 1, fetch_types: false, onnotice: () => {} });
    try {
      return [...(await admin.unsafe(command).simple())];
    } finally {
      await admin.end();
    }
  }
  const ours = (rows: Record<string, unknown>[]) => rows.filter((r) => r.database === db.name);

  it('really goes through PgBouncer', async () => {
    expect(t.config.db.prepare).toBe(false);
    expect(new URL(t.config.db.url!).port).toBe(String(bouncer.port));
    expect(ours(await console_('show pools')).map((p) => p.pool_mode)).toEqual(['transaction']);
  });

  it('health is ready', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/health/ready' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ status: 'ok', database: 'up' });
  });

  it('transactions commit the row with its audit entry, and roll back both together', async () => {
    const ok = await t.app.inject({ method: 'POST', url: '/probe/documents', headers: user.headers, payload: { title: 'one' } });
    expect(ok.statusCode).toBe(201);
    const rolledBack = await t.app.inject({ method: 'POST', url: '/probe/documents', headers: user.headers, payload: { title: 'two', fail: true } });
    expect(rolledBack.statusCode).toBe(409);
    const titles = await db.sql<{ title: string }[]>`select title from documents where owner_id = ${user.id}`;
    expect(titles.map((r) => r.title)).toEqual(['one']);
    const audits = await db.sql`select 1 from audit_logs where actor_id = ${user.id} and action = 'document.create'`;
    expect(audits).toHaveLength(1);
  });

  it('the API\'s creates (one statement with the audit row; a batch in a transaction) work in transaction pooling', async () => {
    const other = await createUserWithToken(t.app);
    const one = await t.app.inject({ method: 'POST', url: '/api/v1/documents', headers: other.headers, payload: { title: 'bounced', s3_bucket: 'b', s3_key: 'pgb/one' } });
    expect(one.statusCode).toBe(201);
    expect((await t.app.inject({ method: 'POST', url: '/api/v1/documents', headers: other.headers, payload: { title: 'again', s3_bucket: 'b', s3_key: 'pgb/one' } })).statusCode).toBe(409);
    const batch = await t.app.inject({ method: 'POST', url: '/api/v1/documents/batch', headers: other.headers, payload: { documents: [{ title: 'b1', s3_bucket: 'b', s3_key: 'pgb/b1' }, { title: 'b2', s3_bucket: 'b', s3_key: 'pgb/b2' }] } });
    expect(batch.statusCode).toBe(201);
    const ids = [one.json().id, ...batch.json().data.map((d: { id: string }) => d.id)];
    const audits = await db.sql`select entity_id from audit_logs where entity_id in ${db.sql(ids)}`;
    expect(audits.map((a) => a.entity_id).sort()).toEqual([...ids].sort());
  });

  it('200 concurrent transactional writes and reads through 3 server connections all succeed', async () => {
    const writes = Array.from({ length: 200 }, (_, i) =>
      t.app.inject({ method: 'POST', url: '/probe/documents', headers: user.headers, payload: { title: `c${i}` } }),
    );
    const reads = Array.from({ length: 50 }, () => t.app.inject({ method: 'GET', url: '/probe/documents', headers: user.headers }));
    const results = await Promise.all([...writes, ...reads]);
    expect(results.filter((r) => r.statusCode >= 400).map((r) => r.body)).toEqual([]);

    const [docs] = await t.app.db.select({ n: count() }).from(documents).where(eq(documents.owner_id, user.id));
    const [audit] = await t.app.db
      .select({ n: count() })
      .from(audit_logs)
      .where(and(eq(audit_logs.actor_id, user.id), eq(audit_logs.action, 'document.create')));
    expect(docs!.n).toBe(201);
    expect(audit!.n).toBe(201);
    // All of it went through PgBouncer, over at most its 3 server connections.
    const [stats] = ours(await console_('show stats'));
    expect(Number(stats!.total_xact_count)).toBeGreaterThanOrEqual(250);
    expect(ours(await console_('show servers')).length).toBeLessThanOrEqual(3);
    expect((await t.app.db.execute(sql`select 1 as one`))[0]).toEqual({ one: 1 });
  });

  it('a real process serves through PgBouncer and migrates on the direct endpoint (DATABASE_MIGRATION_URL)', async () => {
    const empty = await createEmptyDatabase();
    dbs.push(empty);
    const p = await spawnServer({ DATABASE_URL: bouncer.url(empty.url), DATABASE_MIGRATION_URL: empty.url, DB_PREPARE: 'false' });
    procs.push(p);
    await waitForStatus(p, '/health/ready');
    expect(p.output()).toMatch(/applied \d+ migration\(s\)/);
    expect(await stopServer(p)).toBe(0);
  });
});
