import { and, eq } from 'drizzle-orm';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { documents } from '../../src/db/schema/index.js';
import { bindFilters, boundValues, compileFilter, compileOrder, decodeCursor, defineTable, encodeCursor, isBound, keysetBound, keysetCondition, parseLimit, validateSort, type Filter, type SortTerm } from '../../src/query/index.js';
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

const indexes = (rows: { i: unknown }[]) => rows.map((r) => (r.i as { i: number }).i).sort((a, b) => a - b);
/**
 * The filter's rows, compiled with its values inline and bound as placeholders of a statement
 * built once (after two other placeholders, as when it follows another condition): both must
 * find the same rows.
 */
const select = async (filter: Filter) => {
  const columns = { title: documents.title, i: documents.metadata };
  const inline = indexes(await t.app.db.select(columns).from(documents).where(and(eq(documents.owner_id, owner.id), compileFilter(table, filter))));
  const bound = bindFilters(table, [filter]);
  const statement = t.app.db.select(columns).from(documents).where(and(eq(documents.owner_id, owner.id), bound.sql(2))).prepare('query_test_bound');
  expect(indexes(await statement.execute(boundValues(bound, {}, 2))), JSON.stringify(filter)).toEqual(inline);
  return inline;
};
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
    for (const f of bad) {
      expect(() => compileFilter(table, f), JSON.stringify(f)).toThrowError(expect.objectContaining({ code: 'validation_failed' }));
      expect(() => bindFilters(table, [f]), JSON.stringify(f)).toThrowError(expect.objectContaining({ code: 'validation_failed' }));
    }
    let deep: Filter = { column: 'title', op: 'eq', value: 'x' };
    for (let i = 0; i < 20; i++) deep = { or: [deep] };
    expect(() => compileFilter(table, deep)).toThrowError(expect.objectContaining({ code: 'validation_failed' }));
    expect(() => bindFilters(table, [deep])).toThrowError(expect.objectContaining({ code: 'validation_failed' }));
  });

  it("a bound filter's key names its SQL text: never its values, always its structure", () => {
    const key = (...filters: Filter[]) => bindFilters(table, filters).key;
    const x: Filter = { column: 'title', op: 'eq', value: 'a' };
    const y: Filter = { column: 'size_bytes', op: 'gt', value: '1' };
    // The same structure with other values: one statement.
    expect(key(x)).toBe(key({ ...x, value: 'something else entirely' }));
    expect(key({ column: 'description', op: 'in', value: ['a'] })).toBe(key({ column: 'description', op: 'in', value: ['b', 'c', 'd'] }));
    expect(key({ column: 'title', op: 'wfts', value: 'a' })).toBe(key({ column: 'title', op: 'wfts', value: 'b c', config: 'simple' }));
    // Anything that changes the text: another statement.
    const shapes: Filter[][] = [
      [x],
      [{ ...x, op: 'neq' }],
      [{ ...x, column: 'description' }],
      [{ ...x, negate: true }],
      [x, y],
      [y, x],
      [{ or: [x, y] }],
      [{ and: [x, y] }],
      [{ or: [x, y], negate: true }],
      [{ or: [x] }, y],
      [{ or: [x, y] }, y],
      [{ column: 'description', op: 'in', value: ['a'] }],
      [{ column: 'description', op: 'in', value: [] }],
      [{ column: 'size_bytes', op: 'is', value: null }],
      [{ column: 'title', op: 'fts', value: 'a' }],
      [],
    ];
    const keys = shapes.map((f) => key(...f));
    expect(new Set(keys).size).toBe(keys.length);
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
  /** Every page through the sort; `bound`: the cursor's condition as placeholders (keysetBound), else inline. */
  const walk = async (terms: SortTerm[], limit: number, bound = false) => {
    const seen: string[] = [];
    let cursor: string | null = null;
    for (let guard = 0; guard < 100; guard++) {
      const values = cursor ? decodeCursor(table, terms, cursor) : undefined;
      const after = values ? (bound ? keysetBound(table, terms, values) : keysetCondition(table, terms, values)) : undefined;
      const query = t.app.db
        .select({ id: documents.id, title: documents.title, description: documents.description, size_bytes: documents.size_bytes, created_at: documents.created_at })
        .from(documents)
        .where(and(eq(documents.owner_id, owner.id), isBound(after) ? after.sql(0) : after))
        .orderBy(...compileOrder(table, terms))
        .limit(limit + 1);
      const rows = isBound(after) ? await query.prepare('query_test_keyset').execute(boundValues(after, {})) : await query;
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
        expect(await walk(terms, limit, true)).toEqual(all);
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
