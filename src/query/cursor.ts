import { and, or, sql, type SQL } from 'drizzle-orm';
import type { Bound } from './bound.js';
import { PG_TYPE, type TableSpec } from './columns.js';
import { nullsOf, totalOrder, type SortTerm } from './sort.js';
import { coerceValue, invalid } from './values.js';

// Keyset cursors: an opaque base64url token carrying the sort it was made for and the
// last row's values for every term of the total order. The next page is "rows after this
// tuple", which an index on (sort column, id) answers without scanning skipped rows, and
// which neither repeats nor skips existing rows when others are inserted between pages.

const MAX_CURSOR_LENGTH = 4096;

const signature = (terms: SortTerm[]) => terms.map((t) => `${t.direction === 'desc' ? '-' : ''}${t.column}.${nullsOf(t)}`).join(',');

/** The cursor for the page after `row`; `row` holds raw database values keyed by column name. */
export function encodeCursor(table: TableSpec, terms: SortTerm[], row: Record<string, unknown>): string {
  const order = totalOrder(table, terms);
  const values = order.map((t) => row[t.column] ?? null);
  return Buffer.from(JSON.stringify({ s: signature(order), v: values })).toString('base64url');
}

/** Values for keysetCondition, or 400 for anything that is not a cursor of this sort. */
export function decodeCursor(table: TableSpec, terms: SortTerm[], cursor: string, field = 'cursor'): unknown[] {
  const order = totalOrder(table, terms);
  let parsed: unknown;
  try {
    if (cursor.length > MAX_CURSOR_LENGTH || !/^[A-Za-z0-9_-]+$/.test(cursor)) throw new Error('not base64url');
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw invalid(field, 'is not a valid cursor');
  }
  const { s, v } = (parsed ?? {}) as { s?: unknown; v?: unknown };
  if (s !== signature(order)) throw invalid(field, 'was made for a different sort order');
  if (!Array.isArray(v) || v.length !== order.length) throw invalid(field, 'is not a valid cursor');
  return order.map((t, i) => {
    const spec = table.columns[t.column]!;
    if (v[i] === null) {
      if (!spec.nullable) throw invalid(field, 'is not a valid cursor');
      return null;
    }
    try {
      return coerceValue(spec.type, v[i], field);
    } catch {
      throw invalid(field, 'is not a valid cursor');
    }
  });
}

/** Rows strictly after the cursor position in the total order. */
export function keysetCondition(table: TableSpec, terms: SortTerm[], values: unknown[]): SQL {
  return afterCursor(table, terms, values, (i) => values[i]);
}

/**
 * keysetCondition for a statement rendered once per sort (query/bound.ts): the text depends on
 * the sort and on which of the cursor's values are null, never on the values themselves.
 */
export function keysetBound(table: TableSpec, terms: SortTerm[], values: unknown[]): Bound {
  const order = totalOrder(table, terms);
  return {
    key: `after ${order.map((t, i) => `${JSON.stringify(t.column)} ${t.direction} ${nullsOf(t)}${values[i] === null ? ' null' : ''}`).join(', ')}`,
    values,
    sql: (first) => afterCursor(table, terms, values, (i) => sql.placeholder(`p${first + i}`)),
  };
}

function afterCursor(table: TableSpec, terms: SortTerm[], values: unknown[], bind: (i: number) => unknown): SQL {
  const order = totalOrder(table, terms);
  const cols = order.map((t) => table.columns[t.column]!);
  const params = order.map((_, i) => sql`${bind(i)}::${sql.raw(PG_TYPE[cols[i]!.type])}`);

  // Common case, one direction and no nulls: a row comparison the (col, id) index can seek to.
  const direction = order[0]!.direction;
  if (order.every((t, i) => t.direction === direction && !cols[i]!.nullable)) {
    const op = sql.raw(direction === 'asc' ? '>' : '<');
    return sql`(${sql.join(cols.map((c) => sql`${c.column}`), sql`, `)}) ${op} (${sql.join(params, sql`, `)})`;
  }

  // General case: (a after va) or (a = va and b after vb) or ..., null-aware.
  const branches: SQL[] = [];
  for (let i = 0; i < order.length; i++) {
    const equalBefore = order.slice(0, i).map((_, j) => sql`${cols[j]!.column} is not distinct from ${params[j]}`);
    const after = afterValue(cols[i]!.column, order[i]!, values[i], params[i]!, Boolean(cols[i]!.nullable));
    if (after) branches.push(and(...equalBefore, after)!);
  }
  return branches.length ? sql`(${or(...branches)})` : sql`false`;
}

function afterValue(col: SQL | object, term: SortTerm, value: unknown, param: SQL, nullable: boolean): SQL | null {
  const op = sql.raw(term.direction === 'asc' ? '>' : '<');
  const nullsLast = nullsOf(term) === 'last';
  if (value === null) return nullsLast ? null : sql`${col} is not null`;
  const beyond = sql`${col} ${op} ${param}`;
  return nullable && nullsLast ? sql`(${beyond} or ${col} is null)` : beyond;
}
