import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, TEST_JWT_SECRET, type TestApp } from '../../helpers/app.js';
import { mintSession } from '../../helpers/tokens.js';

// The last-admin guard under concurrency: two API tasks (two apps on one database, as behind
// the load balancer) each serve one of the last two admins demoting or disabling the other at
// the same moment. Exactly one may win; an enabled admin always remains.

let a: TestApp;
let b: TestApp;
beforeAll(async () => {
  a = await buildTestApp();
  b = await buildTestApp({}, { testDb: a.testDb });
});
afterAll(async () => {
  await b?.close();
  await a?.close();
});

const ROUNDS = 10;
const PATCHES = [{ role: 'user' }, { disabled: true }, { role: 'user', disabled: true }] as const;

async function twoAdmins(round: number) {
  const sql = a.testDb.sql;
  // Every earlier pair is retired, so these two are the only enabled admins.
  await sql`update users set role = 'user' where role = 'admin'`;
  const rows = await sql<{ id: string; email: string }[]>`
    insert into users (email, role) values (${`first-${round}@example.com`}, 'admin'), (${`second-${round}@example.com`}, 'admin') returning id, email`;
  return Promise.all(rows.map(async (u) => ({ ...u, ...(await mintSession(sql, { ...u, role: 'admin' }, TEST_JWT_SECRET)) })));
}

describe('last-admin guard', () => {
  it(`the last two admins demoting or disabling each other at once: exactly one wins, ${ROUNDS} rounds`, async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const [first, second] = await twoAdmins(round);
      const patchOfFirst = PATCHES[round % PATCHES.length]!;
      const patchOfSecond = PATCHES[(round + 1) % PATCHES.length]!;
      const [r1, r2] = await Promise.all([
        a.app.inject({ method: 'PATCH', url: `/api/v1/admin/users/${second!.id}`, headers: { authorization: `Bearer ${first!.token}` }, payload: patchOfFirst }),
        b.app.inject({ method: 'PATCH', url: `/api/v1/admin/users/${first!.id}`, headers: { authorization: `Bearer ${second!.token}` }, payload: patchOfSecond }),
      ]);
      const why = `round ${round}: ${r1.body} | ${r2.body}`;
      expect([r1, r2].filter((r) => r.statusCode === 200), why).toHaveLength(1);
      // The loser is refused as the last admin (409), or, when the winner took away the
      // loser's own admin rights first, as no longer an admin (403).
      const loser = r1.statusCode === 200 ? r2 : r1;
      expect([[409, 'conflict'], [403, 'forbidden']], why).toContainEqual([loser.statusCode, loser.json().code]);
      const [{ n }] = (await a.testDb.sql`select count(*)::int as n from users where role = 'admin' and disabled_at is null`) as unknown as [{ n: number }];
      expect(n, `round ${round}`).toBe(1);
    }
  });

  it('a lone admin still cannot demote or disable themselves', async () => {
    const [only] = await twoAdmins(ROUNDS);
    await a.testDb.sql`update users set role = 'user' where email = ${`second-${ROUNDS}@example.com`}`;
    for (const payload of PATCHES) {
      const res = await a.app.inject({ method: 'PATCH', url: `/api/v1/admin/users/${only!.id}`, headers: { authorization: `Bearer ${only!.token}` }, payload });
      expect(res.statusCode).toBe(409);
      expect(res.json().code).toBe('conflict');
    }
  });
});
