import { eq, sql } from 'drizzle-orm';
import type { Db } from '../../db/client.js';
import { mfa_factors, sessions, users } from '../../db/schema/index.js';
import { isUuid } from '../../lib/uuid.js';
import type { AccessTokenClaims, SessionUser } from './claims.js';

/** Checks a verified token's session: the user it signs in as, or null when it must be refused. */
export type SessionCheck = (claims: AccessTokenClaims) => Promise<SessionUser | null>;

/**
 * The per-request session check. Every authenticated request runs it, so the statement is
 * built and prepared once, here, not per request: one primary-key read on the primary.
 */
export function createSessionCheck(db: Db): SessionCheck {
  const sessionQuery = db
    .select({
      revoked_at: sessions.revoked_at,
      expires_at: sessions.expires_at,
      disabled_at: users.disabled_at,
      role: users.role,
      user_id: users.id,
      aal: sessions.aal,
      // In the same statement: whether the user has a verified second factor (then only aal2 reaches data).
      mfa: sql<boolean>`exists (select 1 from ${mfa_factors} where ${mfa_factors.user_id} = ${users.id} and ${mfa_factors.status} = 'verified')`,
    })
    .from(sessions)
    .innerJoin(users, eq(users.id, sessions.user_id))
    .where(eq(sessions.id, sql.placeholder('sid')))
    .limit(1)
    .prepare('offbase_authenticate_session');

  return async (claims) => {
    const sid = claims.sid ?? claims.session_id;
    if (!isUuid(sid) || !isUuid(claims.sub)) return null;
    // The session row is the source of truth: logout, password change and disabling
    // revoke it, and the access token dies with it instead of at expiry. Deliberately no
    // cache: one primary-key read on the primary makes a revocation in any task effective
    // in every task on the next request (a replica could lag behind the revocation).
    const [row] = await sessionQuery.execute({ sid });
    if (!row || row.user_id !== claims.sub || row.revoked_at || row.disabled_at || Date.parse(row.expires_at) <= Date.now()) return null;
    // The role is read fresh so a demotion takes effect on the next request.
    // The assurance level is the session's, read fresh too: a verified second factor raises it.
    return { ...claims, sid, role: row.role, aal: row.aal, mfaEnabled: row.mfa };
  };
}
