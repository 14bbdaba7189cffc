import { createHmac, timingSafeEqual } from 'node:crypto';
import { eq } from 'drizzle-orm';
import type { Db } from '../../../db/client.js';
import { users } from '../../../db/schema/index.js';
import { isUuid } from '../../../lib/uuid.js';
import type { SessionUser } from '../../auth/claims.js';
import type { TokenVerifier } from '../../auth/verifiers.js';

// Supabase cut-over: with SUPABASE_JWT_SECRET set, access tokens the old Supabase project
// issued keep working until they expire, so users signed in before the switch are not logged
// out. Off unless configured. Such tokens have no offbase session: the user must exist (the
// import preserved its id) and not be disabled, and the token must be issued after the user's
// sessions were last ended (users.sessions_revoked_at: global logout, password change or
// reset, disabling). The role is read from offbase, never the token.

const NIL_UUID = '00000000-0000-0000-0000-000000000000';

interface SupabaseClaims {
  sub?: unknown;
  aud?: unknown;
  role?: unknown;
  exp?: unknown;
  iat?: unknown;
  nbf?: unknown;
  session_id?: unknown;
}

function decode(part: string): Record<string, unknown> | null {
  try {
    const v = JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as unknown;
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** Seconds a token's iat may lie ahead of this clock (the two servers' clocks differ a little). */
const IAT_SKEW_S = 60;

type VerifiedClaims = SupabaseClaims & { sub: string; iat: number };

/** The claims of a valid Supabase user access token (HS256, aud authenticated, issued, unexpired), else null. */
export function verifySupabaseToken(token: string, secret: string, nowMs = Date.now()): VerifiedClaims | null {
  const parts = token.split('.');
  if (parts.length !== 3) return null;
  const [h, p, s] = parts as [string, string, string];
  // Only HS256: alg none and key-confusion tokens are refused before the signature is looked at.
  if (decode(h)?.alg !== 'HS256') return null;
  const expected = createHmac('sha256', secret).update(`${h}.${p}`).digest();
  const given = Buffer.from(s, 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
  const c = decode(p) as SupabaseClaims | null;
  if (!c) return null;
  const now = nowMs / 1000;
  const audOk = c.aud === 'authenticated' || (Array.isArray(c.aud) && c.aud.includes('authenticated'));
  // role 'authenticated' excludes the project's anon and service_role keys, signed with the same secret.
  if (!audOk || c.role !== 'authenticated' || typeof c.sub !== 'string' || !isUuid(c.sub)) return null;
  if (typeof c.exp !== 'number' || c.exp <= now) return null;
  // GoTrue always sets iat; revocation compares it with the user's revocation time.
  if (typeof c.iat !== 'number' || c.iat > now + IAT_SKEW_S) return null;
  if (c.nbf !== undefined && (typeof c.nbf !== 'number' || c.nbf > now)) return null;
  return c as VerifiedClaims;
}

/**
 * The verifier plugged into authentication (plugin.ts): a Supabase token signs in as an
 * existing, enabled user whose sessions were not ended after the token was issued.
 */
export function supabaseTokenVerifier(db: Db, secret: string): TokenVerifier {
  return {
    name: 'supabase',
    recognizes: (token) => verifySupabaseToken(token, secret) !== null,
    async verify(token): Promise<SessionUser | null> {
      const claims = verifySupabaseToken(token, secret);
      if (!claims) return null;
      const [user] = await db
        .select({ role: users.role, email: users.email, disabled_at: users.disabled_at, sessions_revoked_at: users.sessions_revoked_at })
        .from(users)
        .where(eq(users.id, claims.sub))
        .limit(1);
      // A deleted account's tombstone has no email: nothing signs in as it.
      if (!user || user.disabled_at || user.email === null) return null;
      // iat has whole seconds: a token from the very second of the revocation counts as issued before it.
      if (user.sessions_revoked_at && claims.iat <= Math.floor(Date.parse(user.sessions_revoked_at) / 1000)) return null;
      // No offbase session backs this token: sid names the Supabase session (or none).
      const sid = typeof claims.session_id === 'string' && isUuid(claims.session_id) ? claims.session_id : NIL_UUID;
      return { sub: claims.sub, role: user.role, email: user.email, sid, ...(typeof claims.exp === 'number' ? { exp: claims.exp } : {}) };
    },
  };
}
