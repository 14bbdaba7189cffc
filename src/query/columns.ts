import type { AnyColumn, SQL } from 'drizzle-orm';

// The allowlist every query surface works from: a public column name maps to a SQL
// expression and a type. Anything not listed cannot be filtered, sorted or paged on, so
// user input never names SQL directly.

export type ColumnType = 'uuid' | 'text' | 'integer' | 'bigint' | 'numeric' | 'timestamptz' | 'boolean' | 'text[]' | 'jsonb' | 'tsvector';

export interface ColumnSpec {
  column: AnyColumn | SQL;
  type: ColumnType;
  nullable?: boolean;
  /** Default true; false keeps a column out of filters (e.g. a 1 MB text body). */
  filterable?: boolean;
  /** Default false: only columns with an index behind them should be sortable. */
  sortable?: boolean;
}

export interface TableSpec {
  /** Used in error messages only. */
  name: string;
  columns: Record<string, ColumnSpec>;
  /** A unique, non-null column (usually id) that ends every order so keyset cursors are total. */
  key: string;
}

export function defineTable<const T extends TableSpec>(spec: T): T {
  const key = spec.columns[spec.key];
  if (!key || key.nullable) throw new Error(`${spec.name}: key column ${spec.key} must be listed and non-null`);
  return spec;
}

/** The PostgreSQL type a parameter is cast to when the context cannot infer it. */
export const PG_TYPE: Record<ColumnType, string> = {
  uuid: 'uuid',
  text: 'text',
  integer: 'integer',
  bigint: 'bigint',
  numeric: 'numeric',
  timestamptz: 'timestamptz',
  boolean: 'boolean',
  'text[]': 'text[]',
  jsonb: 'jsonb',
  tsvector: 'tsvector',
};
