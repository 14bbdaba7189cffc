import { and, eq, getTableColumns, isNull, ne, sql } from 'drizzle-orm';
import type { DbOrTx } from '../../db/client.js';
import type { Actor, DeferredSessionCheck } from '../../context/index.js';
import { namedSelection, statementCache, statementRows } from '../../db/prepared.js';
import { resourceQueries } from '../../resources/index.js';
import { liveUser, sessions, users, type User, type UserRole, type UserRow } from '../../db/schema/index.js';
import { sqlState } from '../../errors/database.js';
import { AppError } from '../../errors/app-error.js';
import { normalizeEmail } from '../../lib/email.js';

export { normalizeEmail };

// Every statement on users and sessions the auth feature runs. Each one names the user it
// touches in its WHERE clause. A deleted account's tombstone is never returned as a user
// (liveUser): it cannot be found by email or id, locked, updated or signed in as.

const live = isNull(users.deleted_at);

export async function findUserByEmail(db: DbOrTx, email: string): Promise<User | undefined> {
  const [row] = await db.select().from(users).where(and(eq(users.email, normalizeEmail(email)), live)).limit(1);
  return liveUser(row);
}

// Every authenticated route that needs the user reads it by id (GET /me, /auth/v1/user, every
// password and profile change): rendered once per handle, its id a placeholder. On a route
// whose session check is deferred (context/session.ts) the read carries the check: one
// statement, one round trip.
const userById = statementCache((db, _shape, check: DeferredSessionCheck | undefined) => {
  const columns = getTableColumns(users);
  const selection = namedSelection(check ? resourceQueries.carried(columns, check) : columns);
  return statementRows(db, db.select(selection).from(users).where(and(eq(users.id, sql.placeholder('id')), live)).limit(1), selection, 'offbase_user_by_id');
});

/** The live user with this id; `actor` (the request's, on the primary) lets the read carry its pending session check. */
export async function findUserById(db: DbOrTx, id: string, actor?: Actor): Promise<User | undefined> {
  const [row] = actor?.deferred
    ? await resourceQueries.carryingRead(db, actor, (check) => userById(db, check ? 'carry' : 'plain', check)({ id, ...check?.params }))
    : await userById(db, 'plain', undefined)({ id });
  return liveUser(row as UserRow | undefined);
}

/** The row, locked until the transaction ends: read-modify-write without lost updates. */
export async function lockUser(db: DbOrTx, id: string): Promise<User | undefined> {
  const [row] = await db.select().from(users).where(and(eq(users.id, id), live)).for('update').limit(1);
  return liveUser(row);
}

export interface NewUser {
  email: string;
  password_hash: string | null;
  full_name?: string | null;
  role?: UserRole;
  email_verified_at?: string | null;
  metadata?: Record<string, unknown>;
}

/** Inserts a user; an existing email (any case) is 409 email_taken. */
export async function insertUser(db: DbOrTx, values: NewUser): Promise<User> {
  try {
    const [row] = await db
      .insert(users)
      .values({ ...values, email: normalizeEmail(values.email) })
      .returning();
    return liveUser(row)!;
  } catch (err) {
    if (sqlState(err) === '23505') throw new AppError('email_taken');
    throw err;
  }
}

export type UserPatch = Partial<Pick<User, 'full_name' | 'preferences' | 'metadata' | 'role' | 'disabled_at' | 'email_verified_at' | 'password_hash' | 'last_login_at'>>;

export async function updateUser(db: DbOrTx, id: string, patch: UserPatch): Promise<User | undefined> {
  const [row] = await db.update(users).set(patch).where(and(eq(users.id, id), live)).returning();
  return liveUser(row);
}

/**
 * Records a successful login; swaps in a re-hashed password only if the stored hash is still
 * the one that was verified, so a concurrent password change is never overwritten.
 */
export async function recordLogin(db: DbOrTx, id: string, verifiedHash: string, newHash: string | null): Promise<User | undefined> {
  const hash = newHash ? sql`case when ${users.password_hash} = ${verifiedHash} then ${newHash} else ${users.password_hash} end` : users.password_hash;
  const [row] = await db
    .update(users)
    .set({ last_login_at: sql`now()`, password_hash: hash })
    .where(and(eq(users.id, id), live))
    .returning();
  return liveUser(row);
}

/**
 * Ends the user's tokens that no session row backs (Supabase cut-over tokens): every such
 * token issued before now is refused from the next request on (see features/compat/supabase-tokens/verify.ts).
 */
export async function revokeSessionlessTokens(db: DbOrTx, userId: string): Promise<void> {
  await db.update(users).set({ sessions_revoked_at: sql`now()` }).where(eq(users.id, userId));
}

/**
 * Revokes the user's live sessions, optionally keeping one (the caller's own), and every
 * token no session backs: whatever ends all of a user's sessions ends their cut-over tokens too.
 */
export async function revokeUserSessions(db: DbOrTx, userId: string, reason: string, keepSessionId?: string): Promise<number> {
  const rows = await db
    .update(sessions)
    .set({ revoked_at: sql`now()`, revoked_reason: reason })
    .where(and(eq(sessions.user_id, userId), isNull(sessions.revoked_at), keepSessionId ? ne(sessions.id, keepSessionId) : undefined))
    .returning({ id: sessions.id });
  await revokeSessionlessTokens(db, userId);
  return rows.length;
}

/** Revokes one session of this user (a session id alone is not enough). */
export async function revokeSession(db: DbOrTx, userId: string, sessionId: string, reason: string): Promise<boolean> {
  const rows = await db
    .update(sessions)
    .set({ revoked_at: sql`now()`, revoked_reason: reason })
    .where(and(eq(sessions.id, sessionId), eq(sessions.user_id, userId), isNull(sessions.revoked_at)))
    .returning({ id: sessions.id });
  return rows.length > 0;
}
