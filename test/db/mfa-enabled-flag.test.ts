import { randomUUID } from 'node:crypto';
import { drizzle } from 'drizzle-orm/postgres-js';
import { migrate } from 'drizzle-orm/postgres-js/migrator';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MIGRATIONS_FOLDER } from '../../src/db/migrate.js';
import { createEmptyDatabase, createTestDatabase, migrateBefore, type TestDatabase } from '../helpers/db.js';

// users.mfa_enabled against mfa_factors (drizzle/0008_mfa_enabled_flag.sql): the triggers keep
// it equal to "has a verified factor" for every kind of write, under concurrent transactions on
// real connections, and the migration's backfill sets it for factors verified before it ran.
// The HTTP flows (verify, unenroll, admin removal, account deletion, import) assert the flag in
// their own files (test/features/auth/mfa.test.ts, account-mfa.test.ts, test/import/mfa-factors.test.ts).

let db: TestDatabase;
/** Two connections as the app role, each one transaction at a time: the racing writers. */
let a: postgres.ReservedSql;
let b: postgres.ReservedSql;
const pools: postgres.Sql[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  const open = async () => {
    const pool = postgres(db.appUrl, { max: 1, onnotice: () => {} });
    pools.push(pool);
    return pool.reserve();
  };
  [a, b] = await Promise.all([open(), open()]);
});
afterAll(async () => {
  a?.release();
  b?.release();
  await Promise.allSettled(pools.map((p) => p.end({ timeout: 5 })));
  await db?.drop();
});

async function newUser(sql: postgres.Sql = db.sql): Promise<string> {
  const [row] = await sql<{ id: string }[]>`insert into users (email) values (${`u-${randomUUID()}@example.com`}) returning id::text`;
  return row!.id;
}

async function newFactor(userId: string, status: 'verified' | 'unverified', sql: postgres.Sql = db.sql): Promise<string> {
  const [row] = await sql<{ id: string }[]>`
    insert into mfa_factors (user_id, friendly_name, status, secret_ciphertext, secret_key_id, verified_at)
    values (${userId}, ${randomUUID()}, ${status}, 'sealed', 'k1', ${status === 'verified' ? new Date().toISOString() : null})
    returning id::text`;
  return row!.id;
}

async function flag(userId: string, sql: postgres.Sql = db.sql): Promise<boolean> {
  const [row] = await sql<{ mfa_enabled: boolean }[]>`select mfa_enabled from users where id = ${userId}`;
  return row!.mfa_enabled;
}

/** Resolves once `n` backends of this database wait for a lock (the second writer is blocked). */
async function lockWaiters(n: number, sql: postgres.Sql = db.sql): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const [row] = await sql<{ n: number }[]>`select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`;
    if (row!.n >= n) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error('the second transaction never waited for a lock');
}

/**
 * Runs `first` on connection a and `second` on b, each in its own transaction: a's statement
 * runs and a stays open; b's statement runs and blocks on a lock; then a commits and b commits.
 * The order that exposes a recompute on a stale snapshot.
 */
async function race(first: (sql: postgres.ReservedSql) => Promise<unknown>, second: (sql: postgres.ReservedSql) => Promise<unknown>, isolation = 'read committed') {
  await a.unsafe('begin');
  await b.unsafe(`begin isolation level ${isolation}`);
  try {
    // b's snapshot (REPEATABLE READ takes it at the first statement) predates a's commit.
    await b`select 1`;
    await first(a);
    const blocked = second(b).then(
      () => null,
      (err: unknown) => err as { code?: string },
    );
    await lockWaiters(1);
    await a.unsafe('commit');
    const error = await blocked;
    await b.unsafe(error ? 'rollback' : 'commit');
    return error;
  } catch (err) {
    await a.unsafe('rollback').catch(() => {});
    await b.unsafe('rollback').catch(() => {});
    throw err;
  }
}

/** A user with two verified factors, each removed by one of two racing transactions (b's at `isolation`). */
async function removeBothRacing(isolation: string) {
  const user = await newUser();
  const [f1, f2] = [await newFactor(user, 'verified'), await newFactor(user, 'verified')];
  const error = await race(
    (sql) => sql`delete from mfa_factors where id = ${f1}`,
    (sql) => sql`delete from mfa_factors where id = ${f2}`,
    isolation,
  );
  return { user, error };
}

describe('the flag follows every write to mfa_factors', () => {
  it('insert, verify, a second factor, deletes, pruning, a change of owner', async () => {
    const user = await newUser();
    expect(await flag(user)).toBe(false);
    // An unverified factor guards nothing.
    const pending = await newFactor(user, 'unverified');
    expect(await flag(user)).toBe(false);
    await db.sql`update mfa_factors set status = 'verified' where id = ${pending}`;
    expect(await flag(user)).toBe(true);
    const second = await newFactor(user, 'verified');
    await db.sql`delete from mfa_factors where id = ${pending}`;
    expect(await flag(user)).toBe(true);
    // Pruning deletes unverified factors only: nothing changes.
    await newFactor(user, 'unverified');
    await db.sql`delete from mfa_factors where user_id = ${user} and status = 'unverified'`;
    expect(await flag(user)).toBe(true);
    // Back to unverified (no code path does it, psql could): off.
    await db.sql`update mfa_factors set status = 'unverified' where id = ${second}`;
    expect(await flag(user)).toBe(false);
    await db.sql`update mfa_factors set status = 'verified' where id = ${second}`;
    // A verified factor moved to another user moves the flag with it.
    const other = await newUser();
    await db.sql`update mfa_factors set user_id = ${other} where id = ${second}`;
    expect([await flag(user), await flag(other)]).toEqual([false, true]);
    // Deleting every factor in one statement (admin removal, account deletion).
    await newFactor(other, 'verified');
    await db.sql`delete from mfa_factors where user_id = ${other}`;
    expect(await flag(other)).toBe(false);
  });

  it('a code accepted (last_used_step) or a factor enrolled does not write the users row', async () => {
    const user = await newUser();
    const factor = await newFactor(user, 'verified');
    const [before] = await db.sql<{ xmin: string }[]>`select xmin::text from users where id = ${user}`;
    await db.sql`update mfa_factors set last_used_step = 123, updated_at = now() where id = ${factor}`;
    await newFactor(user, 'unverified');
    const [after] = await db.sql<{ xmin: string }[]>`select xmin::text from users where id = ${user}`;
    expect(after!.xmin).toBe(before!.xmin);
  });

  it('deleting the user (the cascade) is no error', async () => {
    const user = await newUser();
    await newFactor(user, 'verified');
    await db.sql`delete from users where id = ${user}`;
    expect(await db.sql`select 1 from mfa_factors where user_id = ${user}`).toHaveLength(0);
  });

  it('the app role can write factors (the trigger runs with its rights)', async () => {
    const user = await newUser(a);
    await newFactor(user, 'verified', a);
    expect(await flag(user, a)).toBe(true);
  });
});

describe('concurrent transactions on two connections', () => {
  it('two removals of the last two verified factors at once leave the flag off', async () => {
    const { user, error } = await removeBothRacing('read committed');
    expect(error).toBeNull();
    expect(await flag(user)).toBe(false);
  });

  it('verify racing the removal of the only other verified factor ends on (either order)', async () => {
    for (const verifyFirst of [true, false]) {
      const user = await newUser();
      const old = await newFactor(user, 'verified');
      const pending = await newFactor(user, 'unverified');
      const verify = (sql: postgres.ReservedSql) => sql`update mfa_factors set status = 'verified', verified_at = now() where id = ${pending}`;
      const remove = (sql: postgres.ReservedSql) => sql`delete from mfa_factors where id = ${old}`;
      const error = verifyFirst ? await race(verify, remove) : await race(remove, verify);
      expect(error).toBeNull();
      expect(await flag(user), `verify first: ${verifyFirst}`).toBe(true);
    }
  });

  it('verify racing the removal of the same factor ends matching what committed', async () => {
    const user = await newUser();
    const pending = await newFactor(user, 'unverified');
    const error = await race(
      (sql) => sql`update mfa_factors set status = 'verified', verified_at = now() where id = ${pending}`,
      (sql) => sql`delete from mfa_factors where id = ${pending}`,
    );
    expect(error).toBeNull();
    expect(await db.sql`select 1 from mfa_factors where user_id = ${user}`).toHaveLength(0);
    expect(await flag(user)).toBe(false);
  });

  it('two verified factors added for one user at once both count (the foreign key lock and the flag lock do not conflict)', async () => {
    const user = await newUser();
    const error = await race(
      (sql) => newFactor(user, 'verified', sql),
      (sql) => newFactor(user, 'verified', sql),
    );
    expect(error).toBeNull();
    expect(await flag(user)).toBe(true);
  });

  it('a REPEATABLE READ writer whose snapshot predates the other removal fails with 40001 instead of writing a stale flag', async () => {
    const { user, error } = await removeBothRacing('repeatable read');
    expect(error?.code).toBe('40001');
    // The REPEATABLE READ transaction rolled back: f2 stays, and so does the flag.
    expect(await flag(user)).toBe(true);
    expect(await db.sql`select 1 from mfa_factors where user_id = ${user}`).toHaveLength(1);
  });

  it('control: a one-statement recompute (no lock first) gets the removal race wrong, so the race above can fail', async () => {
    const control = await createTestDatabase();
    const controlPools = [0, 1].map(() => postgres(control.url, { max: 1, onnotice: () => {} }));
    const [x, y] = (await Promise.all(controlPools.map((p) => p.reserve()))) as [postgres.ReservedSql, postgres.ReservedSql];
    try {
      await control.sql.unsafe(`
        create or replace function offbase_refresh_mfa_enabled(uid uuid) returns void language plpgsql as $$
        begin
          update users set mfa_enabled = exists (select 1 from mfa_factors where user_id = uid and status = 'verified') where id = uid;
        end; $$`);
      const user = await newUser(control.sql);
      const [f1, f2] = [await newFactor(user, 'verified', control.sql), await newFactor(user, 'verified', control.sql)];
      await x.unsafe('begin');
      await y.unsafe('begin');
      await x`delete from mfa_factors where id = ${f1}`;
      // execute(): a postgres.js query is sent when awaited or then'd, and this one must be sent now.
      const blocked = y`delete from mfa_factors where id = ${f2}`.execute();
      await lockWaiters(1, control.sql);
      await x.unsafe('commit');
      await blocked;
      await y.unsafe('commit');
      // No verified factor is left, yet the flag says on.
      expect(await flag(user, control.sql)).toBe(true);
    } finally {
      x.release();
      y.release();
      await Promise.allSettled(controlPools.map((p) => p.end({ timeout: 5 })));
      await control.drop();
    }
  });
});

describe('the migration', () => {
  it('backfills the flag for factors verified before it ran', async () => {
    const empty = await createEmptyDatabase();
    try {
      // The migrations before 0007_users_mfa_enabled (the schema before the flag).
      await migrateBefore(empty.sql, '0007_users_mfa_enabled');

      const [on, pendingOnly, none] = [await newUser(empty.sql), await newUser(empty.sql), await newUser(empty.sql)];
      await newFactor(on, 'verified', empty.sql);
      await newFactor(on, 'unverified', empty.sql);
      await newFactor(pendingOnly, 'unverified', empty.sql);

      await migrate(drizzle(empty.sql), { migrationsFolder: MIGRATIONS_FOLDER });
      expect([await flag(on, empty.sql), await flag(pendingOnly, empty.sql), await flag(none, empty.sql)]).toEqual([true, false, false]);
      // And the triggers are in place from then on.
      await empty.sql`delete from mfa_factors where user_id = ${on} and status = 'verified'`;
      expect(await flag(on, empty.sql)).toBe(false);
    } finally {
      await empty.drop();
    }
  });
});
