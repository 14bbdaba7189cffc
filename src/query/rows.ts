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
}
