import type { UserRole } from '../../db/schema/index.js';

/**
 * What an offbase access token carries: the one claims type, for signing (sessions.ts) and
 * for verifying (the session check). Surfaces may add claims of their own (GoTrue's
 * user_metadata, amr...); `sub` and `sid` are always offbase's.
 */
export interface AccessTokenClaims {
  sub: string;
  /** The user's role on /api/v1 tokens; 'authenticated' on GoTrue-shaped ones. Never trusted: the session check reads it fresh. */
  role: UserRole | 'authenticated';
  email: string;
  /** Session id: revoking the session invalidates the token before it expires. */
  sid: string;
  /** GoTrue's name for the session id, on tokens issued by /auth/v1 (which carry sid too). */
  session_id?: string;
  /** Authenticator assurance level when the token was issued; the session check reads the session's own, fresh. */
  aal?: 'aal1' | 'aal2';
  amr?: { method: string; timestamp: number }[];
  iat?: number;
  exp?: number;
  iss?: string;
  aud?: string | string[];
}

/** The signed-in user a request acts as (request.user): the token's claims with the role read from the database. */
export type SessionUser = Omit<AccessTokenClaims, 'role'> & {
  role: UserRole;
  /** The user has a verified second factor: only an aal2 session may reach data routes. */
  mfaEnabled?: boolean;
};
