import { and, eq, type Placeholder, type SQL } from 'drizzle-orm';
import type { PgColumn } from 'drizzle-orm/pg-core';
import type { Actor } from '../context/actor.js';

// Who may see which rows: the one place the visibility rules live. Every owned table's
// queries (documents, analyses, the audit trail) scope their statements with these.

/**
 * `column = the actor`, unless admin powers apply (then every row). A requested owner
 * (an admin's owner_id filter) can only narrow: for anyone else it is ANDed with their own id.
 */
export function ownerScope(actor: Actor, column: PgColumn, requested?: string): SQL | undefined {
  return and(ownRows(actor.admin, column, actor.id), requested ? eq(column, requested) : undefined);
}

/** The same rule for a statement built once per scope: the actor's id as a value or a placeholder. */
export function ownRows(admin: boolean, column: PgColumn, id: string | Placeholder): SQL | undefined {
  return admin ? undefined : eq(column, id);
}
