import { createHmac, timingSafeEqual } from 'node:crypto';
import { and, eq, sql } from 'drizzle-orm';
import type { Db } from '../../../db/client.js';
import { sessions, users } from '../../../db/schema/index.js';
import { isUuid } from '../../../lib/uuid.js';
import type { SessionUser } from '../../auth/claims.js';
import type { TokenVerifier } from '../../auth/verifiers.js';
import type { SupabaseJwks } from './jwks.js';

// Supabase cut-over: with SUPABASE_JWT_SECRET (legacy HS256) and/or SUPABASE_JWKS (the
// project's asymmetric signing keys) set, access tokens the old Supabase project issued keep
// working until they expire, so users signed in before the switch are not logged out. Off
// unless configured. The user must exist (the import preserved its id) and not be disabled,
// and the token must be issued after the user's sessions were last ended
// (users.sessions_revoked_at: global logout, password change or reset, disabling). When the
// token's session_id names a session the importer carried over, that session must be live
// too: revoking it in offbase ends the old access tokens of that session as well. The role is
// read from offbase, never the token.

const NIL_UUID = '00000000-0000-0000-0000-000000000000';

/** The aud GoTrue puts in user access tokens. */
const AUDIENCE = 'authenticated';

interface SupabaseClaims {
  sub?: unknown;
  aud?: unknown;
  role?: unknown;
  exp?: unknown;
  iat?: unknown;
  nbf?: unknown;
  iss?: unknown;
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

type VerifiedClaims = SupabaseClaims & { sub: string; iat: number; exp: number };

/** What a user access token of the old project must claim, whichever key signed it. */
function userTokenClaims(c: SupabaseClaims | null, issuer: string | null, nowMs: number): VerifiedClaims | null {
  if (!c) return null;
  const now = nowMs / 1000;
  const audOk = c.aud === AUDIENCE || (Array.isArray(c.aud) && c.aud.includes(AUDIENCE));
  // role 'authenticated' excludes the project's anon and service_role keys, signed with the same key.
  if (!audOk || c.role !== 'authenticated' || typeof c.sub !== 'string' || !isUuid(c.sub)) return null;
  if (issuer !== null && c.iss !== issuer) return null;
  if (typeof c.exp !== 'number' || c.exp <= now) return null;
  // GoTrue always sets iat; revocation compares it with the user's revocation time.
  if (typeof c.iat !== 'number' || c.iat > now + IAT_SKEW_S) return null;
  if (c.nbf !== undefined && (typeof c.nbf !== 'number' || c.nbf > now)) return null;
  return c as VerifiedClaims;
}

/** The claims of a valid HS256 Supabase user access token (aud authenticated, issued, unexpired), else null. */
export function verifySupabaseToken(token: string, secret: string, nowMs = Date.now(), issuer: string | null = null): VerifiedClaims | null {
  const parts = token.split('.');
  if (parts.length !== 3) return null;
  const [h, p, s] = parts as [string, string, string];
  // Only HS256: alg none and key-confusion tokens are refused before the signature is looked at.
  if (decode(h)?.alg !== 'HS256') return null;
  const expected = createHmac('sha256', secret).update(`${h}.${p}`).digest();
  const given = Buffer.from(s, 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
  return userTokenClaims(decode(p) as SupabaseClaims | null, issuer, nowMs);
}

export interface SupabaseKeys {
  /** The legacy HS256 JWT secret (SUPABASE_JWT_SECRET). */
  secret: string | null;
  /** The asymmetric signing keys (SUPABASE_JWKS). */
  jwks: SupabaseJwks | null;
  /** The iss tokens must carry (SUPABASE_JWT_ISSUER); null: not checked. */
  issuer: string | null;
}

/** The claims of a valid user access token of the old project, signed by the legacy secret or a JWKS key. */
export async function verifySupabaseClaims(token: string, keys: SupabaseKeys, nowMs = Date.now()): Promise<VerifiedClaims | null> {
  const alg = decode(token.split('.', 1)[0] ?? '')?.alg;
  if (alg === 'HS256') return keys.secret ? verifySupabaseToken(token, keys.secret, nowMs, keys.issuer) : null;
  if (!keys.jwks) return null;
  // jose checks the signature with the kid's pinned algorithm, exp, nbf and aud; the rest as for HS256.
  return userTokenClaims((await keys.jwks.verify(token, AUDIENCE, keys.issuer)) as SupabaseClaims | null, keys.issuer, nowMs);
}

/**
 * The verifier plugged into authentication (plugin.ts): a Supabase token signs in as an
 * existing, enabled user whose sessions were not ended after the token was issued, and whose
 * imported session (if the token's session_id names one) is live.
 */
export function supabaseTokenVerifier(db: Db, keys: SupabaseKeys): TokenVerifier {
  return {
    name: 'supabase',
    recognizes: async (token) => (await verifySupabaseClaims(token, keys)) !== null,
    async verify(token): Promise<SessionUser | null> {
      const claims = await verifySupabaseClaims(token, keys);
      if (!claims) return null;
      const sessionId = typeof claims.session_id === 'string' && isUuid(claims.session_id) ? claims.session_id : NIL_UUID;
      const [user] = await db
        .select({
          role: users.role,
          email: users.email,
          disabled_at: users.disabled_at,
          sessions_revoked_at: users.sessions_revoked_at,
          session_user: sessions.user_id,
          session_ended: sql<boolean>`(${sessions.revoked_at} is not null or ${sessions.expires_at} <= now())`,
        })
        .from(users)
        .leftJoin(sessions, and(eq(sessions.id, sessionId), eq(sessions.user_id, users.id)))
        .where(eq(users.id, claims.sub))
        .limit(1);
      // A deleted account's tombstone has no email: nothing signs in as it.
      if (!user || user.disabled_at || user.email === null) return null;
      // iat has whole seconds: a token from the very second of the revocation counts as issued before it.
      if (user.sessions_revoked_at && claims.iat <= Math.floor(Date.parse(user.sessions_revoked_at) / 1000)) return null;
      // The importer keeps Supabase's session ids: an imported session that ended takes its old tokens with it.
      if (user.session_user && user.session_ended) return null;
      // sid names the Supabase session (the imported offbase session of that id, if any), or none.
      return { sub: claims.sub, role: user.role, email: user.email, sid: sessionId, exp: claims.exp };
    },
  };
}
