import { and, desc, eq, gt, isNull, sql } from 'drizzle-orm';
import { sessions } from '../../db/schema/index.js';
import { AppError } from '../../errors/app-error.js';
import { recordAudit } from '../audit/record.js';
import { revokeSession, revokeUserSessions } from './queries.js';
import type { AuthContext } from './service.js';

// A user's own sessions: where they are signed in, and signing out one device or all others.
// Every statement names the user, so another user's session id is simply not found (404).

export interface SessionInfo {
  id: string;
  current: boolean;
  created_at: string;
  /** When the session last refreshed its tokens (no write per request): created_at until then. */
  last_used_at: string;
  expires_at: string;
  ip: string | null;
  user_agent: string | null;
  aal: 'aal1' | 'aal2';
}

export async function listSessions(ctx: AuthContext, userId: string, currentSessionId: string): Promise<SessionInfo[]> {
  const rows = await ctx.app.db
    .select({
      id: sessions.id,
      created_at: sessions.created_at,
      refreshed_at: sessions.refreshed_at,
      expires_at: sessions.expires_at,
      ip: sessions.ip,
      user_agent: sessions.user_agent,
      aal: sessions.aal,
    })
    .from(sessions)
    .where(and(eq(sessions.user_id, userId), isNull(sessions.revoked_at), gt(sessions.expires_at, sql`now()`)))
    .orderBy(desc(sessions.created_at), desc(sessions.id))
    .limit(200);
  return rows.map((r) => ({
    id: r.id,
    current: r.id === currentSessionId,
    created_at: r.created_at,
    last_used_at: r.refreshed_at ?? r.created_at,
    expires_at: r.expires_at,
    ip: r.ip,
    user_agent: r.user_agent,
    aal: r.aal,
  }));
}

/** Signs that device out at once: its access tokens fail on their next request. */
export async function revokeOwnSession(ctx: AuthContext, userId: string, sessionId: string): Promise<void> {
  const { app, request } = ctx;
  await app.db.transaction(async (tx) => {
    if (!(await revokeSession(tx, userId, sessionId, 'revoked_by_user'))) throw new AppError('not_found', { message: 'Session not found.' });
    await recordAudit(tx, request?.audit ?? null, { actor_id: userId, action: 'auth.session_revoke', entity_type: 'session', entity_id: sessionId });
  });
}

/** Every session but the caller's. */
export async function revokeOtherSessions(ctx: AuthContext, userId: string, currentSessionId: string): Promise<number> {
  const { app, request } = ctx;
  return app.db.transaction(async (tx) => {
    const revoked = await revokeUserSessions(tx, userId, 'revoked_by_user', currentSessionId);
    await recordAudit(tx, request?.audit ?? null, { actor_id: userId, action: 'auth.session_revoke_others', entity_type: 'session', entity_id: currentSessionId, changes: { revoked } });
    return revoked;
  });
}
