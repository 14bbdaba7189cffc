import type { UserRole } from '../db/schema/index.js';
import type { DeferredSessionCheck } from './session.js';

/**
 * Who is asking, as the query layer sees them: every owned-row statement is scoped by it.
 * `admin` is whether admin powers apply on the surface serving the request: an admin has
 * them on /api/v1, not on the Supabase-compatible /rest/v1 (owner-only row-level security).
 */
export interface Actor {
  id: string;
  role: UserRole;
  admin: boolean;
  /**
   * The request's session check while it has not run (context/session.ts): the first read on
   * the primary carries it. role and admin are then provisional ('user', none) and are
   * updated in place when it settles.
   */
  deferred?: DeferredSessionCheck;
}

/** The actor for a signed-in user; `adminPowers: false` makes an admin a plain user. */
export function actorFor(user: { sub: string; role: UserRole }, adminPowers = true, deferred?: DeferredSessionCheck | null): Actor {
  const actor: Actor = { id: user.sub, role: user.role, admin: adminPowers && user.role === 'admin' };
  if (deferred && !deferred.settled) {
    actor.deferred = deferred;
    deferred.track(actor, adminPowers);
  }
  return actor;
}
