import { sql } from 'drizzle-orm';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { users } from '../../src/db/schema/index.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { createUserWithToken, type TestUser } from '../helpers/users.js';

// DATABASE_READ_URL: plain reads go to the replica pool, writes to the primary, and a user
// who just wrote reads the primary for a few seconds. The "replica" is a second database,
// so which pool served a read is observable: its name, and rows only the primary has.

let t: TestApp;
let replica: TestDatabase;
let alice: TestUser;
let bob: TestUser;

/** Routes shaped like the features': a read through request.readDb, a write through app.db. */
function probeRoutes(app: FastifyInstance) {
  app.get('/probe/read', { preHandler: app.authenticate }, async (request) => {
    const [row] = await request.readDb.execute<{ db: string }>(sql`select current_database() as db`);
    const visible = await request.readDb.select({ id: users.id }).from(users);
    return { db: row!.db, users: visible.length };
  });
  app.post('/probe/write', { preHandler: app.authenticate }, async () => {
    await app.db.execute(sql`select 1`);
    return { ok: true };
  });
  app.post('/probe/fail', { preHandler: app.authenticate }, async (_request, reply) => reply.code(400).send({ ok: false }));
}

beforeAll(async () => {
  replica = await createTestDatabase();
  t = await buildTestApp({ DATABASE_READ_URL: replica.url }, { extend: probeRoutes });
  alice = await createUserWithToken(t.app);
  bob = await createUserWithToken(t.app);
});
afterAll(async () => {
  vi.useRealTimers();
  await t?.close();
  await replica?.drop();
});

const read = async (user: TestUser) => (await t.app.inject({ method: 'GET', url: '/probe/read', headers: user.headers })).json() as { db: string; users: number };

describe('read replica routing', () => {
  it('plain reads are served by the replica pool', async () => {
    const res = await read(alice);
    expect(res.db).toBe(replica.name);
    // The users exist only on the primary: the replica really answered.
    expect(res.users).toBe(0);
    expect(t.database.readDb).not.toBe(t.database.db);
  });

  it('after a write the writer reads the primary; other users stay on the replica', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const write = await t.app.inject({ method: 'POST', url: '/probe/write', headers: alice.headers });
    expect(write.statusCode).toBe(200);
    expect(await read(alice)).toEqual({ db: t.testDb.name, users: 2 });
    expect((await read(bob)).db).toBe(replica.name);

    // Past the read-your-writes window the writer is back on the replica.
    vi.setSystemTime(Date.now() + 6000);
    expect((await read(alice)).db).toBe(replica.name);
    vi.useRealTimers();
  });

  it('a failed write does not pin the user to the primary', async () => {
    expect((await t.app.inject({ method: 'POST', url: '/probe/fail', headers: bob.headers })).statusCode).toBe(400);
    expect((await read(bob)).db).toBe(replica.name);
  });

  it('without DATABASE_READ_URL every read uses the primary', async () => {
    const single = await buildTestApp({}, { extend: probeRoutes });
    try {
      const user = await createUserWithToken(single.app);
      const res = (await single.app.inject({ method: 'GET', url: '/probe/read', headers: user.headers })).json() as { db: string };
      expect(res.db).toBe(single.testDb.name);
      expect(single.database.readDb).toBe(single.database.db);
    } finally {
      await single.close();
    }
  });
});
