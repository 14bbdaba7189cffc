import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { client } from '../helpers/data.js';
import { createUserWithToken, type TestUser } from '../helpers/users.js';

// A page's LIMIT is a literal in the statement's text (src/resources/queries.ts, literalLimit),
// so PostgreSQL keeps a prepared list statement's generic plan instead of planning it again on
// every request. With `LIMIT $n` the generic plan assumes a tenth of an owner's rows (60 of
// 600 here), costs more than the custom plan for the real page, and is never chosen: every
// execution is planned afresh (custom_plans only; seen red with the parameter back). The pool has one connection, so the
// statements the requests prepared are the ones pg_prepared_statements shows on it.

let t: TestApp;
let alice: TestUser;
beforeAll(async () => {
  t = await buildTestApp({ DB_POOL_MAX: '1' });
  const owners = [];
  for (let i = 0; i < 4; i++) owners.push(await createUserWithToken(t.app));
  alice = owners[0]!;
  // Owners with as many documents as the benchmark's, written in no particular order (as
  // documents arrive over time), and statistics that say so: then the cost of a page depends
  // on how many rows the plan expects to fetch, as on a real table.
  await t.testDb.sql`
    insert into documents (owner_id, title, s3_bucket, s3_key, content_text, created_at)
    select (${owners.map((o) => o.id)}::uuid[])[1 + i % 4], 'Document ' || i, 'b', 'k/' || i, repeat('page ', 60),
           now() - random() * interval '30 days'
    from generate_series(1, 2400) i order by random()`;
  await t.testDb.sql`
    insert into audit_logs (actor_id, action, entity_type, entity_id, created_at)
    select (${owners.map((o) => o.id)}::uuid[])[1 + i % 4], 'document.create', 'document', i::text, now() - random() * interval '30 days'
    from generate_series(1, 2400) i order by random()`;
  await t.testDb.sql`analyze documents`;
  await t.testDb.sql`analyze audit_logs`;
});
afterAll(async () => {
  await t?.close();
});

type Plans = { statement: string; generic_plans: number; custom_plans: number };
async function listPlans(): Promise<Plans[]> {
  return t.app.database.sql<Plans[]>`
    select statement, generic_plans::int, custom_plans::int from pg_prepared_statements
     where statement like '%from "documents"%order by "documents"."created_at" desc%'
       and statement not like '%pg_prepared_statements%'`;
}

describe('page statements keep their generic plan', () => {
  it("the first page, carrying the session check, is planned once", async () => {
    const api = client(t.app, alice);
    for (let i = 0; i < 10; i++) {
      const first = await api('GET', '/documents?limit=20');
      expect(first.statusCode).toBe(200);
      expect(first.json().data).toHaveLength(20);
    }
    const plans = (await listPlans()).filter((p) => p.statement.includes('offbase_session'));
    expect(plans).toHaveLength(1);
    expect(plans[0]!.generic_plans, plans[0]!.statement).toBeGreaterThan(0);
    expect(plans[0]!.statement).toMatch(/limit 21$/);
  });

  it('a page after a cursor has its LIMIT in the text too (PostgreSQL plans it per cursor value)', async () => {
    const api = client(t.app, alice);
    const first = await api('GET', '/documents?limit=20');
    const next = await api('GET', `/documents?limit=20&cursor=${encodeURIComponent(first.json().next_cursor)}`);
    expect(next.statusCode).toBe(200);
    expect(next.json().data).toHaveLength(20);
    const keyset = (await listPlans()).filter((p) => p.statement.includes('"documents"."created_at", "documents"."id") <'));
    expect(keyset).toHaveLength(1);
    expect(keyset[0]!.statement).toMatch(/limit 21$/);
  });

  it('a round page size is another statement with its own literal; any other size shares one with a parameter', async () => {
    const api = client(t.app, alice);
    for (let i = 0; i < 7; i++) expect((await api('GET', '/documents?limit=10')).json().data).toHaveLength(10);
    const ten = (await listPlans()).filter((p) => p.statement.includes('offbase_session') && p.statement.endsWith('limit 11'));
    expect(ten).toHaveLength(1);
    expect(ten[0]!.generic_plans).toBeGreaterThan(0);
    // A client walking through odd sizes adds one statement, whatever the sizes.
    for (const n of [3, 7, 13, 33, 77, 150]) expect((await api('GET', `/documents?limit=${n}`)).json().data).toHaveLength(n);
    const odd = (await listPlans()).filter((p) => p.statement.includes('offbase_session') && /limit \$\d+$/.test(p.statement));
    expect(odd).toHaveLength(1);
    const firstPages = (await listPlans()).filter((p) => p.statement.includes('offbase_session') && !p.statement.includes(') <'));
    expect(firstPages.map((p) => p.statement.replace(/.* limit /, 'limit ').replace(/\$\d+/, '$')).sort()).toEqual(['limit $', 'limit 11', 'limit 21']);
  });

  it("the audit trail's first page too", async () => {
    const api = client(t.app, alice);
    for (let i = 0; i < 10; i++) expect((await api('GET', '/audit-logs?limit=20')).json().data).toHaveLength(20);
    const [plan] = await t.app.database.sql<Plans[]>`
      select statement, generic_plans::int, custom_plans::int from pg_prepared_statements
       where statement like '%from "audit_logs"%' and statement not like '%pg_prepared_statements%'`;
    expect(plan!.generic_plans, plan!.statement).toBeGreaterThan(0);
    expect(plan!.statement).toMatch(/limit 21$/);
  });
});
