import { and, desc, eq, ilike, lt, or, sql } from 'drizzle-orm';
import type { DbOrTx } from '../../db/client.js';
import { users, type User, type UserRole } from '../../db/schema/index.js';

export interface UserListFilter {
  /** Case-insensitive substring of the email. */
  email?: string;
  role?: UserRole;
  limit: number;
  /** Position after which to continue: the last row of the previous page. */
  after?: { created_at: string; id: string };
}

const escapeLike = (s: string) => s.replace(/[\\%_]/g, (c) => `\\${c}`);

/** Newest first, keyset-paginated on (created_at, id): stable while rows are added. */
export async function listUsers(db: DbOrTx, filter: UserListFilter): Promise<User[]> {
  const { after } = filter;
  return db
    .select()
    .from(users)
    .where(
      and(
        filter.email ? ilike(users.email, `%${escapeLike(filter.email.trim().toLowerCase())}%`) : undefined,
        filter.role ? eq(users.role, filter.role) : undefined,
        after ? or(lt(users.created_at, after.created_at), and(eq(users.created_at, after.created_at), lt(users.id, after.id))) : undefined,
      ),
    )
    .orderBy(desc(users.created_at), desc(users.id))
    .limit(filter.limit);
}

/** Number of enabled admins other than this user: the last one may not lock everyone out. */
export async function countOtherActiveAdmins(db: DbOrTx, userId: string): Promise<number> {
  const [row] = await db
    .select({ n: sql<number>`count(*)::int` })
    .from(users)
    .where(and(eq(users.role, 'admin'), sql`${users.disabled_at} is null`, sql`${users.id} <> ${userId}`));
  return row?.n ?? 0;
}
