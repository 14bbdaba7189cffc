import { randomUUID } from 'node:crypto';
import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { namedSelection, rawRows } from '../../src/db/prepared.js';
import { mfa_factors, users } from '../../src/db/schema/index.js';
import { listFactors } from '../../src/features/auth/mfa/queries.js';
import { findUserById } from '../../src/features/auth/queries.js';
import { analysesResource } from '../../src/features/analyses/analyses.resource.js';
import { documentsResource } from '../../src/features/documents/documents.resource.js';
import type { Resource } from '../../src/resources/index.js';
import type { TestApp } from '../helpers/app.js';
import { dataApp, newDoc, type Client } from '../helpers/data.js';
import { createUserWithToken } from '../helpers/users.js';

// The hot reads (src/resources/queries.ts) take postgres.js's row objects as they are instead
// of drizzle's per-row mapping. That is only right while both give the same rows: this runs
// every declared resource's readable and computed columns both ways, against real PostgreSQL,
// with every kind of value the tables hold (nulls, bigint, numeric, json, arrays, timestamps).

describe('raw rows (src/db/prepared.ts)', () => {
  let t: TestApp;
  let api: Client;
  beforeAll(async () => {
    ({ t, api } = await dataApp());
    for (const extra of [{ size_bytes: 12345, tags: ['a', 'b,c', 'd"e'], metadata: { n: 1, s: 'x', nested: { a: [1, null] } }, description: 'd' }, {}]) {
      const doc = (await api('POST', '/documents', newDoc(extra))).json() as { id: string };
      expect((await api('POST', `/documents/${doc.id}/analyses`, { kind: 'summary', cost_usd: '0.0123', result: { text: 'ok' }, tokens_used: 7 })).statusCode).toBe(201);
      expect((await api('POST', `/documents/${doc.id}/analyses`, { kind: 'risks' })).statusCode).toBe(201);
    }
  });
  afterAll(async () => {
    await t.close();
  });

  const resources: [string, Resource][] = [
    ['documents', documentsResource as Resource],
    ['analyses', analysesResource as Resource],
  ];
  it.each(resources)('%s: the same rows as drizzle maps them, keys in the same order', async (_name, resource) => {
    const db = t.database.db;
    const selection = namedSelection({ ...resource.returning, mapped: sql`41 + 1`.mapWith(Number), renamed: resource.idColumn });
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const query = db.select(selection as any).from(resource.table as any).orderBy(resource.idColumn).limit(sql.placeholder('limit'));
    const raw = await rawRows(db, query, selection)!({ limit: 100 });
    const mapped = (await query.prepare('offbase_test_raw_rows').execute({ limit: 100 })) as Record<string, unknown>[];
    expect(raw.length).toBeGreaterThanOrEqual(2);
    expect(raw).toEqual(mapped);
    expect(raw.map((r) => Object.keys(r))).toEqual(mapped.map((r) => Object.keys(r)));
    expect(raw[0]!.mapped).toBe(42);
    expect(raw[0]!.renamed).toBe(raw[0]!.id);
  });

  it("the user and factor reads rendered once give drizzle's rows, on the pool and in a transaction", async () => {
    const db = t.database.db;
    const [user] = await db.insert(users).values({ email: `raw-${randomUUID().slice(0, 8)}@example.com`, full_name: 'R', metadata: { a: [1, null], s: 'x' } }).returning({ id: users.id });
    for (const [i, step] of [[0, 123456789], [1, null]] as const) {
      await db.insert(mfa_factors).values({ user_id: user!.id, friendly_name: `f${i}`, secret_ciphertext: 'c', secret_key_id: 'k', last_used_step: step, status: i ? 'unverified' : 'verified', verified_at: i ? null : sql`now()` });
    }
    const drizzleUser = (await db.select().from(users).where(eq(users.id, user!.id)))[0];
    const drizzleFactors = await db.select().from(mfa_factors).where(eq(mfa_factors.user_id, user!.id)).orderBy(mfa_factors.created_at, mfa_factors.id);
    for (const handle of [db, null]) {
      const check = async (h: typeof db) => {
        const found = await findUserById(h, user!.id);
        expect(found).toEqual(drizzleUser);
        expect(Object.keys(found!)).toEqual(Object.keys(drizzleUser!));
        const factors = await listFactors(h, user!.id);
        expect(factors).toEqual(drizzleFactors);
        expect(factors[0]!.last_used_step).toBe(123456789);
      };
      if (handle) await check(handle);
      else await db.transaction(check);
    }
    // A second user's id finds that user: the id is a value, not part of the statement.
    const other = await createUserWithToken(t.app);
    expect((await findUserById(db, other.id))?.id).toBe(other.id);
    expect(await listFactors(db, other.id)).toEqual([]);
  });

  it('has no raw form on a transaction handle (the caller runs drizzle there)', async () => {
    await t.database.db.transaction(async (tx) => {
      const selection = namedSelection({ id: documentsResource.idColumn });
      expect(rawRows(tx, tx.select(selection).from(documentsResource.table), selection)).toBeNull();
    });
  });
});
