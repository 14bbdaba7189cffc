import { sql, type SQL } from 'drizzle-orm';
import type { TableSpec } from './columns.js';
import { invalid } from './values.js';

export interface SortTerm {
  column: string;
  direction: 'asc' | 'desc';
  /** PostgreSQL's default when omitted: nulls last for asc, first for desc. */
  nulls?: 'first' | 'last';
}

const MAX_TERMS = 8;

export const nullsOf = (t: SortTerm): 'first' | 'last' => t.nulls ?? (t.direction === 'asc' ? 'last' : 'first');

/** `-created_at` → created_at desc; `title` → title asc. The simple form the JSON API uses. */
export function parseSortKey(table: TableSpec, key: string, field = 'sort'): SortTerm[] {
  const direction = key.startsWith('-') ? 'desc' : 'asc';
  const column = key.replace(/^[-+]/, '');
  return validateSort(table, [{ column, direction }], field);
}

export function validateSort(table: TableSpec, terms: SortTerm[], field = 'sort'): SortTerm[] {
  if (terms.length > MAX_TERMS) throw invalid(field, `accepts at most ${MAX_TERMS} columns`);
  for (const t of terms) {
    const spec = Object.hasOwn(table.columns, t.column) ? table.columns[t.column] : undefined;
    if (!spec?.sortable) throw invalid(field, `cannot sort by ${JSON.stringify(t.column)}`);
    if (t.direction !== 'asc' && t.direction !== 'desc') throw invalid(field, 'direction must be asc or desc');
  }
  return terms;
}

/**
 * The terms plus the table's key as the final tie-breaker (in the direction of the last
 * term, so a (col, id) index serves both directions). Keyset paging needs a total order.
 */
export function totalOrder(table: TableSpec, terms: SortTerm[]): SortTerm[] {
  if (terms.some((t) => t.column === table.key)) return terms;
  return [...terms, { column: table.key, direction: terms.at(-1)?.direction ?? 'asc' }];
}

export function compileOrder(table: TableSpec, terms: SortTerm[]): SQL[] {
  return totalOrder(table, terms).map((t) => {
    const col = table.columns[t.column]!.column;
    return sql`${col} ${sql.raw(t.direction)} nulls ${sql.raw(nullsOf(t))}`;
  });
}
