import type { SQL } from 'drizzle-orm';
import type { PgColumn } from 'drizzle-orm/pg-core';

/** A general read for other query surfaces (/rest/v1): the owner scope is added by the table's queries. */
export interface RowsQuery {
  /** Output key → column (or expression). */
  columns: Record<string, PgColumn | SQL>;
  where?: SQL;
  order?: SQL[];
  limit?: number;
  offset?: number;
  /**
   * Names the statement's shape (its sort) when `where` and `offset` are absent: such a first
   * page is rendered once per shape and reused, so the same shape must always mean the same order.
   */
  shape?: string;
}
