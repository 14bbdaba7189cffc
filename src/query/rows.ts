import type { SQL } from 'drizzle-orm';
import type { PgColumn } from 'drizzle-orm/pg-core';
import type { Bound } from './bound.js';

/** A general read for other query surfaces (/rest/v1): the owner scope is added by the table's queries. */
export interface RowsQuery {
  /** Output key → column (or expression). */
  columns: Record<string, PgColumn | SQL>;
  /** Bound (bindFilters, keysetBound, allOf): the statement is reusable; SQL: rendered for this call. */
  where?: SQL | Bound;
  order?: SQL[];
  limit?: number;
  offset?: number;
  /**
   * Names the order. Given, with a bound `where` or none, the statement is rendered once per
   * shape and reused (resources/queries.ts), so the same name must always mean the same order.
   */
  shape?: string;
  /**
   * Names `columns` when the map is built per call: the same key must mean the same columns
   * under the same output keys. Without it a column map passed as the same object is named
   * by its identity.
   */
  columnsKey?: string;
}
