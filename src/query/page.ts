import { sql } from 'drizzle-orm';
import { encodeCursor } from './cursor.js';
import type { TableSpec } from './columns.js';
import type { SortTerm } from './sort.js';
import { invalid } from './values.js';

export interface LimitBounds {
  min?: number;
  max: number;
  default: number;
}

/** Applies bounds to a limit that may come straight from a query string. */
export function parseLimit(raw: unknown, bounds: LimitBounds, field = 'limit'): number {
  if (raw === undefined || raw === null || raw === '') return bounds.default;
  const n = typeof raw === 'number' ? raw : /^\d{1,9}$/.test(String(raw)) ? Number(raw) : NaN;
  const min = bounds.min ?? 1;
  if (!Number.isInteger(n) || n < min || n > bounds.max) throw invalid(field, `must be an integer from ${min} to ${bounds.max}`);
  return n;
}

export interface KeysetPage<T> {
  data: T[];
  next_cursor: string | null;
}

/**
 * Fetch `limit + 1` rows, then call this: the extra row only tells whether another page
 * exists. The cursor is made from the raw row, before `shape` runs (which may rewrite rows in place).
 */
export function keysetPage<R extends Record<string, unknown>, T>(
  table: TableSpec,
  terms: SortTerm[],
  rows: R[],
  limit: number,
  shape: (row: R) => T,
): KeysetPage<T> {
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  // Before shaping: a shape may rewrite the rows it is given in place.
  const next_cursor = rows.length > limit && last ? encodeCursor(table, terms, last) : null;
  return { data: page.map(shape), next_cursor };
}

/** For surfaces that page by offset (PostgREST's Range / offset=): bounded, so no deep scans by accident. */
export function parseOffset(raw: unknown, max = 100_000, field = 'offset'): number {
  return parseLimit(raw, { min: 0, max, default: 0 }, field);
}

/**
 * A page's LIMIT as a literal, not a parameter, for the page sizes clients use. Given `LIMIT $n`,
 * PostgreSQL's plan for a prepared statement cannot know n: the generic plan assumes a tenth of
 * the matching rows (50 of an owner's 500 documents), costs more than a custom plan for the real
 * 21, and so PostgreSQL plans the statement afresh on every execution. With the number in the
 * text the generic plan costs what a custom one does and is kept (test/db/page-limit-plans.test.ts);
 * PostgreSQL still plans per execution where the values do matter (a filter). Each literal is a
 * statement of its own on every connection (~100 KB of the backend's memory for a list), so only
 * the round page sizes are literals (PAGE_SIZES, and one more row for the has-more probe); any
 * other size stays a parameter, planned per execution as before, and a client walking every size
 * from 1 to 200 adds one statement, not 200. For drizzle's `.limit()`.
 */
export const PAGE_SIZES: readonly number[] = [1, 10, 20, 25, 50, 100, 200, 1000];
const LITERAL_ROWS = new Set(PAGE_SIZES.flatMap((n) => [n, n + 1]));

/** Whether literalLimit writes `n` into the statement's text. */
export const isLiteralLimit = (n: number): boolean => LITERAL_ROWS.has(n);

export const literalLimit = (n: number): number => {
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`a page limit must be a non-negative integer, got ${n}`);
  return LITERAL_ROWS.has(n) ? (sql.raw(String(n)) as unknown as number) : n;
};
