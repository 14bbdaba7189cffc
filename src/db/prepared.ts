import { fillPlaceholders, is, SQL, sql } from 'drizzle-orm';
import { PgArray, PgBoolean, PgColumn, PgInteger, PgText, PgTimestampString, PgUUID } from 'drizzle-orm/pg-core';
import type { Sql } from 'postgres';
import { BoundedMap } from '../lib/bounded-map.js';
import type { DbOrTx } from './client.js';

/**
 * Statements built once and reused: drizzle renders a query builder chain to SQL on every
 * call (entity checks, selection building, parameter collection), which on a hot read costs
 * more CPU than the round trip. A statement built with `sql.placeholder(...)` and
 * `.prepare(name)` is rendered once and only gets its values per call.
 *
 * `build(db, shape, input)` makes the statement for one handle (pool, replica or transaction:
 * a prepared query is bound to the handle it was built on) and one shape (whatever changes the
 * SQL text: the actor's scope, the sort); `input` is what the build needs beyond the shape
 * and must render the same SQL for the same shape. Handles are held weakly, so a
 * transaction's entries go with it; past `maxShapes` per handle the least recently used shape
 * is dropped, so a caller with many shapes cannot grow the cache without bound and the shapes
 * in use stay in it.
 */
export function statementCache<S, I = undefined>(build: (db: DbOrTx, shape: string, input: I) => S, maxShapes = 32): (db: DbOrTx, shape: string, input: I) => S {
  const byHandle = new WeakMap<DbOrTx, BoundedMap<string, S>>();
  return (db, shape, input) => {
    let shapes = byHandle.get(db);
    if (!shapes) byHandle.set(db, (shapes = new BoundedMap(maxShapes)));
    let statement = shapes.get(shape);
    if (statement === undefined) shapes.set(shape, (statement = build(db, shape, input)));
    return statement;
  };
}

/** Output key → what a statement selects. */
export type RawSelection = Record<string, PgColumn | SQL | SQL.Aliased>;
type Decode = (value: unknown) => unknown;

// Column kinds whose drizzle mapping (mapFromDriverValue) returns postgres.js's value as it is,
// given the pool's parsers (drizzle's postgres-js driver passes timestamps through as text):
// text and uuid are strings, int4 a number, bool a boolean, text[] an array of strings. Every
// other kind (bigint, jsonb, numeric, ...) and every computed value goes through its own
// mapping, so a raw row equals drizzle's (test/db/prepared.test.ts asserts it per resource).
const AS_IS = [PgUUID, PgText, PgInteger, PgBoolean, PgTimestampString];
const asIs = (column: unknown): boolean => AS_IS.some((kind) => is(column, kind)) || (is(column, PgArray) && asIs((column as PgArray<never, never>).baseColumn));

// drizzle keeps an expression's mapping (`sql\`\`.mapWith(...)`) in its `decoder` field, which its
// types mark internal; a drizzle without it fails here, at load, not with silently raw values.
type Decoded = { decoder: { mapFromDriverValue: Decode } };
const decoderOfSql = (expression: SQL): Decoded['decoder'] => (expression as unknown as Decoded).decoder;
if (typeof decoderOfSql(sql`x`.mapWith(Number))?.mapFromDriverValue !== 'function') throw new Error('drizzle-orm: SQL has no decoder; src/db/prepared.ts must be updated');

function decoderOf(field: PgColumn | SQL | SQL.Aliased): Decode | null {
  const inner = is(field, SQL.Aliased) ? field.sql : field;
  if (is(inner, PgColumn)) return asIs(inner) ? null : (v) => inner.mapFromDriverValue(v);
  const decoder = decoderOfSql(inner as SQL);
  return (v) => decoder.mapFromDriverValue(v);
}

/**
 * The selection with each output key as the statement's own column name, so postgres.js's
 * row objects have the selection's keys: a column named as its key stays as it is, anything
 * else (a computed value, a column under another name) is aliased `as "<key>"`.
 */
export function namedSelection(selection: Record<string, PgColumn | SQL | SQL.Aliased>): RawSelection {
  const out: RawSelection = {};
  for (const [key, field] of Object.entries(selection)) {
    if (is(field, PgColumn)) out[key] = field.name === key ? field : sql`${field}`.mapWith(field).as(key);
    else if (!is(field, SQL.Aliased)) out[key] = (field as SQL).as(key);
    else out[key] = field.fieldAlias === key ? field : sql`${field.sql}`.mapWith(is(field.sql, PgColumn) ? field.sql : decoderOfSql(field.sql as SQL)).as(key);
  }
  return out;
}

/** Runs a statement with its placeholders' values; rows are postgres.js's objects. */
export type RawRows = (values: Record<string, unknown>) => Promise<Record<string, unknown>[]>;

/**
 * A query built once (placeholders for its values, the selection from namedSelection) run
 * through the pool's postgres.js client as a prepared statement, its rows taken as the
 * objects postgres.js builds, decoded only where drizzle's mapping is not the identity: the
 * same rows drizzle's `.prepare().execute()` returns, without its per-row mapping (rows
 * nested by selection, an entity check per value). Null for a handle without a client of its
 * own (a transaction): the caller runs drizzle's statement instead.
 */
export function rawRows(db: DbOrTx, query: { toSQL(): { sql: string; params: unknown[] } }, selection: RawSelection): RawRows | null {
  const client = (db as { $client?: Sql }).$client;
  if (typeof client?.unsafe !== 'function') return null;
  const { sql: text, params } = query.toSQL();
  const decoders = Object.entries(selection).flatMap(([key, field]) => {
    const decode = decoderOf(field);
    return decode ? [[key, decode] as const] : [];
  });
  return async (values) => {
    const rows = (await client.unsafe(text, fillPlaceholders(params, values) as never[], { prepare: true })) as unknown as Record<string, unknown>[];
    if (decoders.length) {
      for (const row of rows) {
        for (const [key, decode] of decoders) {
          const value = row[key];
          if (value !== null && value !== undefined) row[key] = decode(value);
        }
      }
    }
    return rows;
  };
}

type Preparable = { toSQL(): { sql: string; params: unknown[] }; prepare(name: string): { execute(values: Record<string, unknown>): Promise<unknown> } };

/**
 * rawRows, or on a handle without a client of its own (a transaction) drizzle's own prepared
 * statement under `name`: the same rows either way.
 */
export function statementRows(db: DbOrTx, query: Preparable, selection: RawSelection, name: string): RawRows {
  const raw = rawRows(db, query, selection);
  if (raw) return raw;
  const statement = query.prepare(name);
  return (values) => statement.execute(values) as Promise<Record<string, unknown>[]>;
}

/**
 * One statement of a fixed shape, rendered once per handle: `build` makes the query with
 * placeholders and its selection (from namedSelection); each call only binds `values`.
 */
export function renderedOnce(name: string, build: (db: DbOrTx) => { query: Preparable; selection: RawSelection }): (db: DbOrTx, values: Record<string, unknown>) => Promise<Record<string, unknown>[]> {
  const statements = statementCache((db) => {
    const { query, selection } = build(db);
    return statementRows(db, query, selection, name);
  }, 1);
  return (db, values) => statements(db, '', undefined)(values);
}
