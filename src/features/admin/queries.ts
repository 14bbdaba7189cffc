import { and, asc, eq, ilike, isNull } from 'drizzle-orm';
import type { DbOrTx } from '../../db/client.js';
import { liveUser, users, type User, type UserRole } from '../../db/schema/index.js';
import { compileOrder, decodeCursor, defineTable, keysetCondition, literalLimit, type SortTerm } from '../../query/index.js';

export interface UserListFilter {
  /** Case-insensitive substring of the email. */
  email?: string;
  role?: UserRole;
  limit: number;
  /** The previous page's next_cursor (query/cursor.ts). */
  cursor?: string;
}

/** What the user list pages on: (created_at, id), both descending. */
export const userTable = defineTable({
  name: 'users',
  key: 'id',
  columns: {
    id: { column: users.id, type: 'uuid' },
    created_at: { column: users.created_at, type: 'timestamptz', sortable: true },
  },
});
export const NEWEST_FIRST: SortTerm[] = [{ column: 'created_at', direction: 'desc' }];

const escapeLike = (s: string) => s.replace(/[\\%_]/g, (c) => `\\${c}`);

/** Newest first, keyset-paginated on (created_at, id): stable while rows are added. */
export async function listUsers(db: DbOrTx, filter: UserListFilter): Promise<User[]> {
  const after = filter.cursor ? keysetCondition(userTable, NEWEST_FIRST, decodeCursor(userTable, NEWEST_FIRST, filter.cursor)) : undefined;
  const rows = await db
    .select()
    .from(users)
    .where(
      and(
        // Deleted accounts' tombstones are not users any more: never listed.
        isNull(users.deleted_at),
        filter.email ? ilike(users.email, `%${escapeLike(filter.email.trim().toLowerCase())}%`) : undefined,
        filter.role ? eq(users.role, filter.role) : undefined,
        after,
      ),
    )
    .orderBy(...compileOrder(userTable, NEWEST_FIRST))
    .limit(literalLimit(filter.limit));
  return rows.map((row) => liveUser(row)!);
}

/**
 * Locks every enabled admin's row (FOR UPDATE, in id order so concurrent callers queue
 * instead of deadlocking) and returns their ids. Held until the transaction ends: no other
 * transaction can demote or disable any of them meanwhile, so a count taken from this list
 * stays true until commit, in every API task. Under READ COMMITTED a row changed by a
 * transaction we waited for is re-read, so an admin demoted or disabled a moment ago is not
 * in the list.
 */
export async function lockEnabledAdmins(db: DbOrTx): Promise<string[]> {
  const rows = await db
    .select({ id: users.id })
    .from(users)
    .where(and(eq(users.role, 'admin'), isNull(users.disabled_at), isNull(users.deleted_at)))
    .orderBy(asc(users.id))
    .for('update');
  return rows.map((r) => r.id);
}
