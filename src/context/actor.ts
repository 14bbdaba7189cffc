import type { UserRole } from '../db/schema/index.js';

/**
 * Who is asking, as the query layer sees them: every owned-row statement is scoped by it.
 * `admin` is whether admin powers apply on the surface serving the request: an admin has
 * them on /api/v1, not on the Supabase-compatible /rest/v1 (owner-only row-level security).
 */
export interface Actor {
  id: string;
  role: UserRole;
  admin: boolean;
}

/** The actor for a signed-in user; `adminPowers: false` makes an admin a plain user. */
export function actorFor(user: { sub: string; role: UserRole }, adminPowers = true): Actor {
  return { id: user.sub, role: user.role, admin: adminPowers && user.role === 'admin' };
}
