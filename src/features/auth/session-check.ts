import { and, eq, gt, isNull, sql, type Placeholder, type SQL } from 'drizzle-orm';
import type { Db } from '../../db/client.js';
import { sessions, users, type SessionAal, type UserRole } from '../../db/schema/index.js';
import { isUuid } from '../../lib/uuid.js';
import { tracedFn } from '../../observability/tracer.js';
import type { AccessTokenClaims, SessionUser } from './claims.js';

/** Checks a verified token's session: the user it signs in as, or null when it must be refused. */
export type SessionCheck = (claims: AccessTokenClaims) => Promise<SessionUser | null>;

/** What the check reads: the role fresh (a demotion counts on the next request), the session's aal, whether MFA is on. */
export interface SessionState {
  role: UserRole;
  aal: SessionAal;
  mfa: boolean;
}

// The rules, once, for both forms of the check. The session row is the source of truth:
// logout, password change, reset, disabling and admin revocation revoke it, and the access
// token dies with it instead of at expiry. Every condition is in the statement, and expiry is
// judged by the database's clock, as every other session rule is.
const live = (sid: Placeholder, sub: Placeholder) =>
  and(eq(sessions.id, sid), eq(sessions.user_id, sub), isNull(sessions.revoked_at), gt(sessions.expires_at, sql`now()`), isNull(users.disabled_at));
// Whether the user has a verified second factor (then only aal2 reaches data): the flag on the
// users row the check reads anyway, kept by triggers on mfa_factors (drizzle/0008_mfa_enabled_flag.sql)
// in the transaction that changes the factors, so it is as fresh as the factors themselves.
const mfaOn = users.mfa_enabled;

/** The token's session id and user as the check's placeholder values, or null when they cannot name a session. */
export function sessionParams(claims: AccessTokenClaims): { sid: string; sub: string } | null {
  const sid = claims.sid ?? claims.session_id;
  return isUuid(sid) && isUuid(claims.sub) ? { sid, sub: claims.sub } : null;
}

/** The signed-in user for a verified token and its session's state. */
export const sessionUser = (claims: AccessTokenClaims, sid: string, state: SessionState): SessionUser => ({
  ...claims,
  sid,
  role: state.role,
  aal: state.aal,
  mfaEnabled: state.mfa,
});

/**
 * The per-request session check on its own statement, built and prepared once: one
 * primary-key read on the primary. Deliberately no cache: a revocation in any task is
 * effective in every task on the next request (a replica could lag behind the revocation).
 */
export function createSessionCheck(db: Db): SessionCheck {
  const query = db
    .select({ role: users.role, aal: sessions.aal, mfa: mfaOn })
    .from(sessions)
    .innerJoin(users, eq(users.id, sessions.user_id))
    .where(live(sql.placeholder('sid'), sql.placeholder('sub')))
    .limit(1)
    .prepare('offbase_authenticate_session');

  return tracedFn('auth.session_check', async (claims: AccessTokenClaims): Promise<SessionUser | null> => {
    const params = sessionParams(claims);
    if (!params) return null;
    const [row] = await query.execute(params);
    return row ? sessionUser(claims, params.sid, row) : null;
  });
}

/**
 * The same check as one column another statement can carry (context/session.ts): a scalar
 * subquery, run once per statement, that answers `<role> <aal> <mfa>` for a live session and
 * NULL otherwise. Its placeholders are `offbase_sid` and `offbase_sub` (carriedParams).
 */
export function carriedSessionColumn(db: Db): SQL {
  const query = db
    .select({ state: sql<string>`concat_ws(' ', ${users.role}, ${sessions.aal}, ${mfaOn})` })
    .from(sessions)
    .innerJoin(users, eq(users.id, sessions.user_id))
    .where(live(sql.placeholder('offbase_sid'), sql.placeholder('offbase_sub')));
  // No LIMIT: the session's primary key matches one row at most, and a parameter there would
  // only widen the carrying statement's plan (query/page.ts, literalLimit).
  return sql`(${query})`;
}

export const carriedParams = ({ sid, sub }: { sid: string; sub: string }) => ({ offbase_sid: sid, offbase_sub: sub });

/** The carried column's value read back; null for a dead session. */
export function parseCarriedState(value: string | null): SessionState | null {
  if (value === null) return null;
  const [role, aal, mfa] = value.split(' ');
  // concat_ws renders a boolean as PostgreSQL's text form of it: 't' or 'f'.
  return { role: role as UserRole, aal: aal as SessionAal, mfa: mfa === 't' };
}
