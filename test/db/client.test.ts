import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createDatabase, type Database } from '../../src/db/client.js';
import { users } from '../../src/db/schema/index.js';
import { testEnv } from '../helpers/app.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';

// drizzle's query builder asks for unnamed statements; the pool's client makes them prepared
// (one round trip, planned once per connection), unless DB_PREPARE=false (transaction pooling).
// One connection per pool, so the statements asked about live on the connection that ran them.

const PROBE_ID = '00000000-0000-4000-8000-000000000001';

async function preparedStatements(database: Database): Promise<string[]> {
  const rows = await database.db.execute<{ statement: string }>(sql`select statement from pg_prepared_statements`);
  return rows.map((r) => r.statement);
}

async function openPool(testDb: TestDatabase, env: Record<string, string>): Promise<Database> {
  const config = loadConfig(testEnv(testDb.appUrl, { DB_POOL_MAX: '1', ...env }));
  return createDatabase(config.db, testDb.appUrl);
}

describe('the pool drizzle runs on', () => {
  let testDb: TestDatabase;
  beforeAll(async () => {
    testDb = await createTestDatabase();
  });
  afterAll(async () => {
    await testDb.drop();
  });

  it('prepares the statements the query builder sends, in and out of transactions', async () => {
    const database = await openPool(testDb, {});
    try {
      await database.db.select({ id: users.id }).from(users).where(eq(users.id, PROBE_ID));
      await database.db.transaction(async (tx) => {
        await tx.select({ email: users.email }).from(users).where(eq(users.id, PROBE_ID));
        await tx.transaction(async (inner) => inner.select({ role: users.role }).from(users).where(eq(users.id, PROBE_ID)));
      });
      const statements = await preparedStatements(database);
      expect(statements.some((s) => s.startsWith('select "id" from "users" where "users"."id" = $1'))).toBe(true);
      expect(statements.some((s) => s.startsWith('select "email" from "users" where "users"."id" = $1'))).toBe(true);
      expect(statements.some((s) => s.startsWith('select "role" from "users" where "users"."id" = $1'))).toBe(true);
      // The same shape again reuses the statement rather than preparing another.
      await database.db.select({ id: users.id }).from(users).where(eq(users.id, PROBE_ID));
      const again = await preparedStatements(database);
      expect(again.filter((s) => s.startsWith('select "id" from "users"'))).toHaveLength(1);
    } finally {
      await database.close();
    }
  });

  it('prepares at most DB_PREPARED_STATEMENTS_MAX distinct statements; past it new ones run unprepared, the first stay prepared', async () => {
    const database = await openPool(testDb, { DB_PREPARED_STATEMENTS_MAX: '4' });
    try {
      // Ever new texts, as a /rest/v1 client choosing aliases could send them.
      const shape = (n: number) => database.db.execute<{ n: number }>(sql`select ${n}::int as ${sql.identifier(`c${n}`)}`);
      for (let n = 0; n < 50; n++) expect((await shape(n))[0]).toEqual({ [`c${n}`]: n });
      const ours = (await preparedStatements(database)).filter((st) => st.startsWith('select $1::int as "c')).sort();
      expect(ours).toEqual(['select $1::int as "c0"', 'select $1::int as "c1"', 'select $1::int as "c2"', 'select $1::int as "c3"']);
      expect(database.statements.primary.admitted).toBe(4);
      // Past the bound: 46 shapes, and the listing itself (a fifth distinct statement).
      expect(database.statements.primary.refused).toBe(47);
      // An admitted text is still served from its statement, in a transaction too; a refused one stays unprepared.
      await database.db.transaction(async (tx) => tx.execute(sql`select ${7}::int as "c0"`));
      await shape(49);
      expect((await preparedStatements(database)).filter((st) => st.startsWith('select $1::int as "c')).sort()).toEqual(ours);
    } finally {
      await database.close();
    }
  });

  it('prepares nothing with DB_PREPARE=false (PgBouncer / RDS Proxy in transaction mode)', async () => {
    const database = await openPool(testDb, { DB_PREPARE: 'false' });
    try {
      const [row] = await database.db.select({ id: users.id }).from(users).where(eq(users.id, PROBE_ID)).limit(1);
      expect(row).toBeUndefined();
      await database.db.transaction(async (tx) => tx.select({ email: users.email }).from(users).where(eq(users.id, PROBE_ID)));
      expect(await preparedStatements(database)).toEqual([]);
    } finally {
      await database.close();
    }
  });
});
