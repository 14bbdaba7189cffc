import { and, eq, type SQL } from 'drizzle-orm';
import type { PgColumn } from 'drizzle-orm/pg-core';
import type { Actor } from '../context/actor.js';

// Who may see which rows: the one place the visibility rules live. Every owned table's
// queries (documents, analyses, the audit trail) scope their statements with these.

/**
 * `column = the actor`, unless admin powers apply (then every row). A requested owner
 * (an admin's owner_id filter) can only narrow: for anyone else it is ANDed with their own id.
 */
export function ownerScope(actor: Actor, column: PgColumn, requested?: string): SQL | undefined {
  return and(actor.admin ? undefined : eq(column, actor.id), requested ? eq(column, requested) : undefined);
}
