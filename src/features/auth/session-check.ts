import { and, eq, gt, isNull, sql } from 'drizzle-orm';
import type { Db } from '../../db/client.js';
import { mfa_factors, sessions, users } from '../../db/schema/index.js';
import { isUuid } from '../../lib/uuid.js';
import { tracedFn } from '../../observability/tracer.js';
import type { AccessTokenClaims, SessionUser } from './claims.js';

/** Checks a verified token's session: the user it signs in as, or null when it must be refused. */
export type SessionCheck = (claims: AccessTokenClaims) => Promise<SessionUser | null>;

/**
 * The per-request session check. Every authenticated request runs it, so the statement is
 * built and prepared once, here, not per request: one primary-key read on the primary.
 */
export function createSessionCheck(db: Db): SessionCheck {
  // Every condition is in the statement, so it answers one short row (the role) or none,
  // and the expiry is judged by the database's clock, as every other session rule is.
  const sessionQuery = db
    .select({
      role: users.role,
      aal: sessions.aal,
      // In the same statement: whether the user has a verified second factor (then only aal2 reaches data).
      mfa: sql<boolean>`exists (select 1 from ${mfa_factors} where ${mfa_factors.user_id} = ${users.id} and ${mfa_factors.status} = 'verified')`,
    })
    .from(sessions)
    .innerJoin(users, eq(users.id, sessions.user_id))
    .where(
      and(
        eq(sessions.id, sql.placeholder('sid')),
        eq(sessions.user_id, sql.placeholder('sub')),
        isNull(sessions.revoked_at),
        gt(sessions.expires_at, sql`now()`),
        isNull(users.disabled_at),
      ),
    )
    .limit(1)
    .prepare('offbase_authenticate_session');

  return tracedFn('auth.session_check', async (claims: AccessTokenClaims): Promise<SessionUser | null> => {
    const sid = claims.sid ?? claims.session_id;
    if (!isUuid(sid) || !isUuid(claims.sub)) return null;
    // The session row is the source of truth: logout, password change and disabling
    // revoke it, and the access token dies with it instead of at expiry. Deliberately no
    // cache: one primary-key read on the primary makes a revocation in any task effective
    // in every task on the next request (a replica could lag behind the revocation).
    const [row] = await sessionQuery.execute({ sid, sub: claims.sub });
    if (!row) return null;
    // The role is read fresh so a demotion takes effect on the next request.
    return { ...claims, sid, role: row.role, aal: row.aal, mfaEnabled: row.mfa };
  });
}
