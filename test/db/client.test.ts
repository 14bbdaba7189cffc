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
