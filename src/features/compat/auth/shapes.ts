import type { MfaFactor, User } from '../../../db/schema/index.js';

// GoTrue's JSON shapes (supabase/auth: models/user.go, api/token.go), built from offbase's
// users and sessions. auth-js stores these objects as they are, so field names and types
// follow GoTrue exactly; offbase-only fields stay out.

/** GoTrue's `aud` and `role` for every signed-in user: RLS-minded code compares against them. */
export const GOTRUE_AUDIENCE = 'authenticated';
export const GOTRUE_ROLE = 'authenticated';

const iso = (value: string | null | undefined): string | null => (value ? new Date(value).toISOString() : null);

export interface GoTrueUser {
  id: string;
  aud: string;
  role: string;
  email: string;
  email_confirmed_at: string | null;
  confirmed_at: string | null;
  phone: string;
  last_sign_in_at: string | null;
  app_metadata: { provider: 'email'; providers: ['email']; role: string };
  user_metadata: Record<string, unknown>;
  identities: unknown[];
  created_at: string;
  updated_at: string;
  is_anonymous: false;
  /** GoTrue's user.factors: present when the user has any (auth.mfa.listFactors reads it). */
  factors?: GoTrueFactor[];
}

export interface GoTrueFactor {
  id: string;
  friendly_name: string;
  factor_type: 'totp';
  status: 'verified' | 'unverified';
  created_at: string;
  updated_at: string;
}

export function toGoTrueFactor(f: MfaFactor): GoTrueFactor {
  return { id: f.id, friendly_name: f.friendly_name ?? '', factor_type: 'totp', status: f.status, created_at: iso(f.created_at)!, updated_at: iso(f.updated_at)! };
}

/**
 * app_metadata is what only the server may change: the provider, and offbase's role
 * (user | admin) for code that checks `app_metadata.role`. user_metadata is the
 * `data` given at sign-up or in updateUser, plus full_name and the email facts GoTrue adds.
 */
export function appMetadata(user: Pick<User, 'role'>): GoTrueUser['app_metadata'] {
  return { provider: 'email', providers: ['email'], role: user.role };
}

export function userMetadata(user: Pick<User, 'id' | 'email' | 'metadata' | 'full_name' | 'email_verified_at'>): Record<string, unknown> {
  return {
    ...(user.metadata ?? {}),
    ...(user.full_name != null ? { full_name: user.full_name } : {}),
    email: user.email,
    email_verified: user.email_verified_at != null,
    phone_verified: false,
    sub: user.id,
  };
}

export function toGoTrueUser(user: User, factors: MfaFactor[] = []): GoTrueUser {
  const confirmed = iso(user.email_verified_at);
  return {
    ...(factors.length ? { factors: factors.map(toGoTrueFactor) } : {}),
    id: user.id,
    aud: GOTRUE_AUDIENCE,
    role: GOTRUE_ROLE,
    email: user.email,
    email_confirmed_at: confirmed,
    confirmed_at: confirmed,
    phone: '',
    last_sign_in_at: iso(user.last_login_at),
    app_metadata: appMetadata(user),
    user_metadata: userMetadata(user),
    identities: [],
    created_at: iso(user.created_at)!,
    updated_at: iso(user.updated_at)!,
    is_anonymous: false,
  };
}

export interface GoTrueSession {
  access_token: string;
  token_type: 'bearer';
  expires_in: number;
  expires_at: number;
  refresh_token: string;
  user: GoTrueUser;
}

export interface IssuedTokens {
  accessToken: string;
  expiresIn: number;
  expiresAt: number;
  refreshToken: string;
  user: User;
}

export function toGoTrueSession(session: IssuedTokens, factors: MfaFactor[] = []): GoTrueSession {
  return {
    access_token: session.accessToken,
    token_type: 'bearer',
    expires_in: session.expiresIn,
    expires_at: session.expiresAt,
    refresh_token: session.refreshToken,
    user: toGoTrueUser(session.user, factors),
  };
}

/**
 * The extra claims of an access token issued through /auth/v1: what auth-js, supabase-js and
 * RLS-minded application code read from a Supabase JWT. `sid` stays alongside `session_id`
 * so the token also works on /api/v1 (which reads the role fresh from the database anyway).
 * `aal` and `amr` come from the session (every surface's tokens carry them).
 * `aud`, `iss`, `iat` and `exp` come from the signer (JWT_AUDIENCE defaults to 'authenticated').
 */
export function goTrueClaims(user: User, sessionId: string): Record<string, unknown> {
  return {
    role: GOTRUE_ROLE,
    session_id: sessionId,
    email: user.email,
    phone: '',
    app_metadata: appMetadata(user),
    user_metadata: userMetadata(user),
    is_anonymous: false,
  };
}
