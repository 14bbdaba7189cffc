import { randomUUID } from 'node:crypto';
import { drizzle } from 'drizzle-orm/postgres-js';
import { migrate } from 'drizzle-orm/postgres-js/migrator';
import type postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MIGRATIONS_FOLDER } from '../../src/db/migrate.js';
import { createEmptyDatabase, createTestDatabase, migrateBefore, type TestDatabase } from '../helpers/db.js';

// A session's aal2 rests on what raised it (drizzle/0010_session_downgrade.sql): the triggers on
// mfa_factors take a session back to aal1 when the factor that raised it stops counting, and
// every aal2 session of a user when MFA goes off, whoever writes mfa_factors (here: plain SQL,
// as psql or the importer would). The HTTP flows are in test/features/auth/mfa.test.ts.

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db?.drop();
});

async function newUser(sql: postgres.Sql = db.sql): Promise<string> {
  const [row] = await sql<{ id: string }[]>`insert into users (email) values (${`u-${randomUUID()}@example.com`}) returning id::text`;
  return row!.id;
}

async function newFactor(userId: string, sql: postgres.Sql = db.sql): Promise<string> {
  const [row] = await sql<{ id: string }[]>`
    insert into mfa_factors (user_id, friendly_name, status, secret_ciphertext, secret_key_id, verified_at)
    values (${userId}, ${randomUUID()}, 'verified', 'sealed', 'k1', now())
    returning id::text`;
  return row!.id;
}

const AMR_AAL2 = [
  { method: 'password', timestamp: 1 },
  { method: 'totp', timestamp: 2 },
];

/** A live session of the user, raised to aal2 by `factorId` (null: by a recovery code), as upgradeSession leaves it. */
async function aal2Session(userId: string, factorId: string | null, sql: postgres.Sql = db.sql, method = 'totp'): Promise<string> {
  const amr = [AMR_AAL2[0], { method, timestamp: 2 }];
  const [row] = await sql<{ id: string }[]>`
    insert into sessions (user_id, expires_at, aal, amr, factor_id)
    values (${userId}, now() + interval '1 day', 'aal2', ${JSON.stringify(amr)}::text::jsonb, ${factorId})
    returning id::text`;
  return row!.id;
}

async function state(sessionId: string, sql: postgres.Sql = db.sql) {
  const [row] = await sql<{ aal: string; factor_id: string | null; methods: string[] }[]>`
    select aal, factor_id::text, array(select e->>'method' from jsonb_array_elements(amr) e) as methods from sessions where id = ${sessionId}`;
  return row!;
}

describe('the triggers on mfa_factors', () => {
  it('removing a factor takes the sessions it raised back to aal1, and only those', async () => {
    const user = await newUser();
    const [a, b] = [await newFactor(user), await newFactor(user)];
    const [byA, byB, byRecovery] = [await aal2Session(user, a), await aal2Session(user, b), await aal2Session(user, null, db.sql, 'recovery_code')];
    const other = await newUser();
    const othersA = await newFactor(other);
    const othersSession = await aal2Session(other, othersA);

    // An amr that is not an array (offbase never writes one) does not stop the removal.
    const [odd] = await db.sql<{ id: string }[]>`
      insert into sessions (user_id, expires_at, aal, amr, factor_id) values (${user}, now() + interval '1 day', 'aal2', '"odd"', ${a}) returning id::text`;

    await db.sql`delete from mfa_factors where id = ${a}`;
    expect(await state(byA)).toEqual({ aal: 'aal1', factor_id: null, methods: ['password'] });
    const [oddAfter] = await db.sql<{ aal: string; amr: unknown }[]>`select aal, amr from sessions where id = ${odd!.id}`;
    expect(oddAfter).toEqual({ aal: 'aal1', amr: 'odd' });
    // MFA is still on (b): the others keep aal2.
    expect(await state(byB)).toEqual({ aal: 'aal2', factor_id: b, methods: ['password', 'totp'] });
    expect(await state(byRecovery)).toMatchObject({ aal: 'aal2', methods: ['password', 'recovery_code'] });
    expect(await state(othersSession)).toMatchObject({ aal: 'aal2', factor_id: othersA });
  });

  it('a factor that stops counting (unverified again, moved to another user) downgrades the same way', async () => {
    const user = await newUser();
    const [a, b, c] = [await newFactor(user), await newFactor(user), await newFactor(user)];
    const [byA, byB] = [await aal2Session(user, a), await aal2Session(user, b)];
    await db.sql`update mfa_factors set status = 'unverified' where id = ${a}`;
    expect(await state(byA)).toMatchObject({ aal: 'aal1', factor_id: null });
    await db.sql`update mfa_factors set user_id = ${await newUser()} where id = ${b}`;
    expect(await state(byB)).toMatchObject({ aal: 'aal1', factor_id: null });
    // A change that leaves the factor verified with its user touches no session.
    const byC = await aal2Session(user, c);
    await db.sql`update mfa_factors set last_used_step = 12345, friendly_name = 'renamed' where id = ${c}`;
    expect(await state(byC)).toMatchObject({ aal: 'aal2', factor_id: c });
  });

  it('MFA going off takes every aal2 session of the user back to aal1, a recovery code’s too', async () => {
    const user = await newUser();
    const a = await newFactor(user);
    const [byA, byRecovery] = [await aal2Session(user, a), await aal2Session(user, null, db.sql, 'recovery_code')];
    const other = await newUser();
    const othersSession = await aal2Session(other, await newFactor(other));

    await db.sql`delete from mfa_factors where user_id = ${user}`;
    expect(await state(byA)).toEqual({ aal: 'aal1', factor_id: null, methods: ['password'] });
    expect(await state(byRecovery)).toEqual({ aal: 'aal1', factor_id: null, methods: ['password'] });
    expect(await state(othersSession)).toMatchObject({ aal: 'aal2' });
  });

  it('deleting a user with factors and raised sessions still works (the cascade meets the triggers)', async () => {
    const user = await newUser();
    const a = await newFactor(user);
    await aal2Session(user, a);
    await db.sql`delete from users where id = ${user}`;
    const [left] = await db.sql<{ n: number }[]>`select count(*)::int as n from sessions where user_id = ${user}`;
    expect(left!.n).toBe(0);
  });
});

describe('the migration', () => {
  it('ties the sessions a single factor raised to it and downgrades those of users without MFA', async () => {
    const empty = await createEmptyDatabase();
    try {
      // The migrations before 0009_session_factor (sessions without factor_id).
      await migrateBefore(empty.sql, '0009_session_factor');

      const session = async (userId: string, aal: 'aal1' | 'aal2') => {
        const [row] = await empty.sql<{ id: string }[]>`
          insert into sessions (user_id, expires_at, aal, amr) values (${userId}, now() + interval '1 day', ${aal}, ${JSON.stringify(AMR_AAL2)}::text::jsonb) returning id::text`;
        return row!.id;
      };
      const [single, several, none] = [await newUser(empty.sql), await newUser(empty.sql), await newUser(empty.sql)];
      const factor = await newFactor(single, empty.sql);
      await newFactor(several, empty.sql);
      await newFactor(several, empty.sql);
      const [singles, severals, stale, plain] = [await session(single, 'aal2'), await session(several, 'aal2'), await session(none, 'aal2'), await session(single, 'aal1')];

      await migrate(drizzle(empty.sql), { migrationsFolder: MIGRATIONS_FOLDER });
      expect(await state(singles, empty.sql)).toMatchObject({ aal: 'aal2', factor_id: factor });
      expect(await state(severals, empty.sql)).toMatchObject({ aal: 'aal2', factor_id: null });
      expect(await state(stale, empty.sql)).toEqual({ aal: 'aal1', factor_id: null, methods: ['password'] });
      expect(await state(plain, empty.sql)).toMatchObject({ aal: 'aal1', factor_id: null });
      // And the triggers are in place from then on.
      await empty.sql`delete from mfa_factors where id = ${factor}`;
      expect(await state(singles, empty.sql)).toMatchObject({ aal: 'aal1', factor_id: null });
    } finally {
      await empty.drop();
    }
  });
});
