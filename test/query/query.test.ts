import { and, eq } from 'drizzle-orm';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { documents } from '../../src/db/schema/index.js';
import { compileFilter, compileOrder, decodeCursor, defineTable, encodeCursor, keysetCondition, parseLimit, validateSort, type Filter, type SortTerm } from '../../src/query/index.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { createUserWithToken, type TestUser } from '../helpers/users.js';

// The query module on its own, against real PostgreSQL: the operators /rest/v1 will map
// PostgREST syntax onto, and keyset paging over nullable columns in mixed directions.

let t: TestApp;
let owner: TestUser;

const table = defineTable({
  name: 'documents',
  key: 'id',
  columns: {
    id: { column: documents.id, type: 'uuid' },
    title: { column: documents.title, type: 'text', sortable: true },
    description: { column: documents.description, type: 'text', nullable: true, sortable: true },
    size_bytes: { column: documents.size_bytes, type: 'bigint', nullable: true, sortable: true },
    tags: { column: documents.tags, type: 'text[]' },
    metadata: { column: documents.metadata, type: 'jsonb' },
    created_at: { column: documents.created_at, type: 'timestamptz', sortable: true },
    content_text: { column: documents.content_text, type: 'text', filterable: false },
  },
});

beforeAll(async () => {
  t = await buildTestApp();
  owner = await createUserWithToken(t.app);
  const rows = Array.from({ length: 40 }, (_, i) => ({
    owner_id: owner.id,
    title: `T${i % 7} "quoted" \\ ${i}`,
    description: i % 4 === 0 ? null : `d${i % 5}`,
    size_bytes: i % 3 === 0 ? null : i * 10,
    tags: i % 2 ? ['a', `n${i}`, 'with "quote"'] : ['b', 'comma,tag'],
    metadata: { i, even: i % 2 === 0, nested: { k: i % 3 } },
    s3_bucket: 'b',
    s3_key: `k${i}`,
  }));
  await t.app.db.insert(documents).values(rows);
});
afterAll(() => t.close());

const select = async (filter: Filter) =>
  (await t.app.db.select({ title: documents.title, i: documents.metadata }).from(documents).where(and(eq(documents.owner_id, owner.id), compileFilter(table, filter)))).map((r) => (r.i as { i: number }).i).sort((a, b) => a - b);
const range = (pred: (i: number) => boolean) => Array.from({ length: 40 }, (_, i) => i).filter(pred);

describe('filters', () => {
  it('comparison, in, is, like/ilike, cs/cd, negation and nested or/and', async () => {
    expect(await select({ column: 'size_bytes', op: 'gte', value: '300' })).toEqual(range((i) => i % 3 !== 0 && i * 10 >= 300));
    expect(await select({ column: 'size_bytes', op: 'lt', value: 50 })).toEqual(range((i) => i % 3 !== 0 && i * 10 < 50));
    expect(await select({ column: 'size_bytes', op: 'is', value: null })).toEqual(range((i) => i % 3 === 0));
    expect(await select({ column: 'size_bytes', op: 'is', value: 'null', negate: true })).toEqual(range((i) => i % 3 !== 0));
    expect(await select({ column: 'description', op: 'in', value: ['d1', 'd2'] })).toEqual(range((i) => i % 4 !== 0 && [1, 2].includes(i % 5)));
    expect(await select({ column: 'description', op: 'in', value: [] })).toEqual([]);
    expect(await select({ column: 'description', op: 'neq', value: 'd1' })).toEqual(range((i) => i % 4 !== 0 && i % 5 !== 1));
    expect(await select({ column: 'title', op: 'like', value: 'T3 "quoted" %' })).toEqual(range((i) => i % 7 === 3));
    expect(await select({ column: 'title', op: 'ilike', value: 't3%' })).toEqual(range((i) => i % 7 === 3));
    expect(await select({ column: 'title', op: 'eq', value: 'T1 "quoted" \\ 8' })).toEqual([8]);
    expect(await select({ column: 'tags', op: 'cs', value: ['a', 'with "quote"'] })).toEqual(range((i) => i % 2 === 1));
    expect(await select({ column: 'tags', op: 'cs', value: ['comma,tag'] })).toEqual(range((i) => i % 2 === 0));
    expect(await select({ column: 'tags', op: 'cd', value: ['b', 'comma,tag', 'extra'] })).toEqual(range((i) => i % 2 === 0));
    expect(await select({ column: 'metadata', op: 'cs', value: { nested: { k: 1 } } })).toEqual(range((i) => i % 3 === 1));
    expect(await select({ column: 'metadata', op: 'cs', value: '{"even": true}' })).toEqual(range((i) => i % 2 === 0));
    expect(await select({ or: [{ column: 'size_bytes', op: 'eq', value: '10' }, { and: [{ column: 'description', op: 'eq', value: 'd2' }, { column: 'size_bytes', op: 'is', value: null }] }] })).toEqual(
      range((i) => i === 1 || (i % 4 !== 0 && i % 5 === 2 && i % 3 === 0)),
    );
    expect(await select({ or: [{ column: 'description', op: 'is', value: null }, { column: 'description', op: 'eq', value: 'd0' }], negate: true })).toEqual(range((i) => i % 4 !== 0 && i % 5 !== 0));
  });

  it('rejects unknown columns, unsupported operators and bad values before any SQL runs', () => {
    const bad: Filter[] = [
      { column: 'owner_id', op: 'eq', value: 'x' },
      { column: 'content_text', op: 'eq', value: 'x' },
      { column: 'constructor', op: 'eq', value: 'x' },
      { column: '__proto__', op: 'eq', value: 'x' },
      { column: 'title', op: 'cs', value: ['x'] },
      { column: 'tags', op: 'like', value: 'x' },
      { column: 'size_bytes', op: 'eq', value: '1; drop table documents' },
      { column: 'size_bytes', op: 'eq', value: '99999999999999999999' },
      { column: 'created_at', op: 'gt', value: '2024-02-30' },
      { column: 'id', op: 'eq', value: 'not-a-uuid' },
      { column: 'title', op: 'eq', value: null },
      { column: 'title', op: 'is', value: 'true' },
      { column: 'title', op: 'in', value: 'a,b' },
      { column: 'title', op: 'eq', value: 'nul\u0000' },
      { column: 'metadata', op: 'cs', value: '{not json' },
      { column: 'title', op: 'regex' as 'eq', value: 'x' },
      { or: [] },
    ];
    for (const f of bad) expect(() => compileFilter(table, f), JSON.stringify(f)).toThrowError(expect.objectContaining({ code: 'validation_failed' }));
    let deep: Filter = { column: 'title', op: 'eq', value: 'x' };
    for (let i = 0; i < 20; i++) deep = { or: [deep] };
    expect(() => compileFilter(table, deep)).toThrowError(expect.objectContaining({ code: 'validation_failed' }));
  });

  it('limits and sorts are bounded', () => {
    expect(parseLimit(undefined, { max: 100, default: 20 })).toBe(20);
    expect(parseLimit('7', { max: 100, default: 20 })).toBe(7);
    for (const v of ['0', '101', '-1', '1.5', 'abc', 1.5]) expect(() => parseLimit(v, { max: 100, default: 20 })).toThrow();
    expect(() => validateSort(table, [{ column: 'tags', direction: 'asc' }])).toThrow();
    expect(() => validateSort(table, [{ column: 'title', direction: 'sideways' as 'asc' }])).toThrow();
    expect(() => validateSort(table, Array.from({ length: 9 }, () => ({ column: 'title', direction: 'asc' as const })))).toThrow();
  });
});

describe('keyset pagination', () => {
  const walk = async (terms: SortTerm[], limit: number) => {
    const seen: string[] = [];
    let cursor: string | null = null;
    for (let guard = 0; guard < 100; guard++) {
      const after = cursor ? keysetCondition(table, terms, decodeCursor(table, terms, cursor)) : undefined;
      const rows = await t.app.db
        .select({ id: documents.id, title: documents.title, description: documents.description, size_bytes: documents.size_bytes, created_at: documents.created_at })
        .from(documents)
        .where(and(eq(documents.owner_id, owner.id), after))
        .orderBy(...compileOrder(table, terms))
        .limit(limit + 1);
      seen.push(...rows.slice(0, limit).map((r) => r.id));
      if (rows.length <= limit) return seen;
      cursor = encodeCursor(table, terms, rows[limit - 1]!);
    }
    throw new Error('no end');
  };

  it('any mix of columns, directions and null placement pages through every row once, in ORDER BY order', async () => {
    const term = fc.record({ column: fc.constantFrom('title', 'description', 'size_bytes', 'created_at'), direction: fc.constantFrom('asc' as const, 'desc' as const), nulls: fc.constantFrom('first' as const, 'last' as const, undefined) });
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(term, { minLength: 1, maxLength: 3, selector: (x) => x.column }), fc.integer({ min: 1, max: 9 }), async (raw, limit) => {
        const terms = raw.map(({ nulls, ...rest }) => (nulls ? { ...rest, nulls } : rest)) as SortTerm[];
        const all = (await t.app.db.select({ id: documents.id }).from(documents).where(eq(documents.owner_id, owner.id)).orderBy(...compileOrder(table, terms))).map((r) => r.id);
        expect(await walk(terms, limit)).toEqual(all);
      }),
      { numRuns: 25 },
    );
  });

  it('cursors are opaque, tied to their sort, and validated on decode', () => {
    const terms: SortTerm[] = [{ column: 'size_bytes', direction: 'desc' }];
    const cursor = encodeCursor(table, terms, { size_bytes: null, id: '7f1a1c4e-8a57-4b4e-9d7e-0d5e9b0f2c11' });
    expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeCursor(table, terms, cursor)).toEqual([null, '7f1a1c4e-8a57-4b4e-9d7e-0d5e9b0f2c11']);
    expect(() => decodeCursor(table, [{ column: 'size_bytes', direction: 'asc' }], cursor)).toThrow();
    expect(() => decodeCursor(table, [{ column: 'size_bytes', direction: 'desc', nulls: 'last' }], cursor)).toThrow();
    // A null for the non-null key is forged.
    expect(() => decodeCursor(table, terms, encodeCursor(table, terms, { size_bytes: 1 }))).toThrow();
  });
});
