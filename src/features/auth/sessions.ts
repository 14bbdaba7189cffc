import { createHash, randomBytes } from 'node:crypto';
import { and, eq, isNull, sql } from 'drizzle-orm';
import type { Db, DbOrTx } from '../../db/client.js';
import { liveUser, refresh_tokens, sessions, users, type AmrEntry, type SessionAal, type User } from '../../db/schema/index.js';
import type { AccessTokenClaims } from './claims.js';

// Sessions, refresh-token rotation and access tokens. No HTTP shaping here: /api/v1/auth
// and the GoTrue-compatible /auth/v1 surface both call these functions.

/** 32 random bytes, base64url: what clients hold. Only its SHA-256 is stored. */
export const newOpaqueToken = () => randomBytes(32).toString('base64url');
export const hashToken = (token: string) => createHash('sha256').update(token).digest('hex');

export interface SessionMeta {
  userAgent?: string | null;
  ip?: string | null;
}

/** Signs with the pinned algorithm, issuer, audience and TTL (app.jwt.sign does); a surface's extra claims ride along. */
export type AccessTokenSigner = (claims: AccessTokenClaims & Record<string, unknown>) => string;
/** Reads exp/iat back from a token we just signed. */
export type AccessTokenDecoder = (token: string) => { iat?: number; exp?: number } | null;

export interface AccessToken {
  accessToken: string;
  /** Seconds. */
  expiresIn: number;
  /** Unix seconds. */
  expiresAt: number;
}

export interface IssuedSession extends AccessToken {
  sessionId: string;
  refreshToken: string;
  user: User;
}

export interface TokenIssuer {
  sign: AccessTokenSigner;
  decode: AccessTokenDecoder;
  refreshTtlS: number;
  /**
   * Extra claims for one surface's tokens (the GoTrue-compatible /auth/v1 adds session_id,
   * user_metadata, app_metadata, role=authenticated...). sub and sid are always ours.
   */
  claims?: (user: User, sessionId: string) => Record<string, unknown>;
}

/** What a session's sign-in proved: its assurance level and the methods used (GoTrue's aal and amr claims). */
export interface Assurance {
  aal: SessionAal;
  amr: AmrEntry[];
}

export const passwordAssurance = (method = 'password'): Assurance => ({ aal: 'aal1', amr: [{ method, timestamp: Math.floor(Date.now() / 1000) }] });

export function issueAccessToken(issuer: TokenIssuer, user: User, sessionId: string, assurance: Assurance): AccessToken {
  const accessToken = issuer.sign({ role: user.role, email: user.email, ...issuer.claims?.(user, sessionId), aal: assurance.aal, amr: assurance.amr, sub: user.id, sid: sessionId });
  const { iat, exp } = issuer.decode(accessToken) ?? {};
  const now = Math.floor(Date.now() / 1000);
  const expiresAt = exp ?? now;
  return { accessToken, expiresIn: expiresAt - (iat ?? now), expiresAt };
}

async function insertRefreshToken(db: DbOrTx, sessionId: string): Promise<{ id: number; token: string }> {
  const token = newOpaqueToken();
  const [row] = await db.insert(refresh_tokens).values({ session_id: sessionId, token_hash: hashToken(token) }).returning({ id: refresh_tokens.id });
  return { id: row!.id, token };
}

const expiresAtSql = (ttlS: number) => sql`now() + make_interval(secs => ${ttlS})`;

/** A new session (family) with its first refresh token and an access token. Run it in the caller's transaction. */
export async function createSession(db: DbOrTx, issuer: TokenIssuer, user: User, meta: SessionMeta, assurance: Assurance = passwordAssurance()): Promise<IssuedSession> {
  const [session] = await db
    .insert(sessions)
    .values({
      user_id: user.id,
      user_agent: meta.userAgent?.slice(0, 512) ?? null,
      ip: meta.ip ?? null,
      expires_at: expiresAtSql(issuer.refreshTtlS),
      aal: assurance.aal,
      amr: assurance.amr,
    })
    .returning({ id: sessions.id });
  const refresh = await insertRefreshToken(db, session!.id);
  return { sessionId: session!.id, refreshToken: refresh.token, user, ...issueAccessToken(issuer, user, session!.id, assurance) };
}

/**
 * Raises a live session of this user to aal2 after a second factor (method: totp, with the
 * factor's id, or recovery_code, with null), retires the refresh tokens handed out before (they
 * were issued to a password-only sign-in) and issues a new pair. Null when the session is gone.
 * Run it in the caller's transaction. Removing that factor, or the user's last one, takes the
 * session back to aal1 (triggers on mfa_factors, drizzle/0010_session_downgrade.sql).
 */
export async function upgradeSession(db: DbOrTx, issuer: TokenIssuer, user: User, sessionId: string, method: string, factorId: string | null): Promise<IssuedSession | null> {
  const entry = JSON.stringify([{ method, timestamp: Math.floor(Date.now() / 1000) }]);
  const [row] = await db
    .update(sessions)
    .set({ aal: 'aal2', amr: sql`${sessions.amr} || ${entry}::jsonb`, factor_id: factorId })
    .where(and(eq(sessions.id, sessionId), eq(sessions.user_id, user.id), isNull(sessions.revoked_at), sql`${sessions.expires_at} > now()`))
    .returning({ aal: sessions.aal, amr: sessions.amr });
  if (!row) return null;
  await db.update(refresh_tokens).set({ revoked_at: sql`now()` }).where(and(eq(refresh_tokens.session_id, sessionId), isNull(refresh_tokens.revoked_at)));
  const refresh = await insertRefreshToken(db, sessionId);
  return { sessionId, refreshToken: refresh.token, user, ...issueAccessToken(issuer, user, sessionId, row) };
}

export type RotationResult =
  | { outcome: 'rotated'; session: IssuedSession }
  | { outcome: 'reused'; userId: string; sessionId: string }
  | { outcome: 'invalid' };

interface LockedToken {
  id: number;
  session_id: string;
  used: boolean;
  in_grace: boolean;
  token_expired: boolean;
  token_revoked: boolean;
  session_revoked: boolean;
  session_expired: boolean;
  user_id: string;
  user_disabled: boolean;
  aal: SessionAal;
  amr: AmrEntry[];
}

/**
 * Exchanges a refresh token for a new pair. The token row is locked (SELECT ... FOR UPDATE)
 * so concurrent presentations of one token are serialized: the first rotates it; a later one
 * inside the grace interval (two tabs racing) gets a fresh token of the same family; a later
 * one after the grace interval is reuse, and the whole family (the session) is revoked.
 * Every time comparison uses the database clock, shared by all API tasks.
 */
export interface RotationOptions {
  graceS: number;
  meta: SessionMeta;
  /** Runs in the revoking transaction (the audit record of the reuse). */
  onReuse?: (tx: DbOrTx, info: { userId: string; sessionId: string }) => Promise<void>;
}

export async function rotateRefreshToken(db: Db, issuer: TokenIssuer, token: string, { graceS, meta, onReuse }: RotationOptions): Promise<RotationResult> {
  return db.transaction(async (tx) => {
    const [row] = (await tx.execute<Record<string, unknown>>(sql`
      select rt.id, rt.session_id,
             rt.used_at is not null as used,
             rt.used_at is not null and rt.used_at > clock_timestamp() - make_interval(secs => ${graceS}) as in_grace,
             rt.created_at <= now() - make_interval(secs => ${issuer.refreshTtlS}) as token_expired,
             rt.revoked_at is not null as token_revoked,
             s.revoked_at is not null as session_revoked,
             s.expires_at <= now() as session_expired,
             s.user_id, u.disabled_at is not null or u.deleted_at is not null as user_disabled, s.aal, s.amr
        from refresh_tokens rt
        join sessions s on s.id = rt.session_id
        join users u on u.id = s.user_id
       where rt.token_hash = ${hashToken(token)}
       for update of rt`)) as unknown as LockedToken[];
    if (!row || row.token_revoked || row.session_revoked || row.session_expired || row.token_expired || row.user_disabled) {
      return { outcome: 'invalid' as const };
    }
    if (row.used && !row.in_grace) {
      await tx
        .update(sessions)
        .set({ revoked_at: sql`now()`, revoked_reason: 'refresh_token_reused' })
        .where(and(eq(sessions.id, row.session_id), isNull(sessions.revoked_at)));
      await tx.update(refresh_tokens).set({ revoked_at: sql`now()` }).where(and(eq(refresh_tokens.session_id, row.session_id), isNull(refresh_tokens.revoked_at)));
      await onReuse?.(tx, { userId: row.user_id, sessionId: row.session_id });
      return { outcome: 'reused' as const, userId: row.user_id, sessionId: row.session_id };
    }
    const next = await insertRefreshToken(tx, row.session_id);
    if (!row.used) {
      await tx.update(refresh_tokens).set({ used_at: sql`clock_timestamp()`, replaced_by: next.id }).where(eq(refresh_tokens.id, row.id));
    }
    // Sliding expiry: an active session stays alive; an idle one ends REFRESH_TOKEN_TTL after its last refresh.
    await tx
      .update(sessions)
      .set({ refreshed_at: sql`now()`, expires_at: expiresAtSql(issuer.refreshTtlS), ...(meta.ip ? { ip: meta.ip } : {}) })
      .where(eq(sessions.id, row.session_id));
    const [userRow] = await tx.select().from(users).where(eq(users.id, row.user_id)).limit(1);
    const user = liveUser(userRow)!; // checked above, under the token's lock
    return {
      outcome: 'rotated' as const,
      session: { sessionId: row.session_id, refreshToken: next.token, user, ...issueAccessToken(issuer, user, row.session_id, { aal: row.aal, amr: row.amr }) },
    };
  });
}

/**
 * Deletes what can no longer matter: sessions ended (revoked or expired) over a day ago (their
 * refresh tokens go with them by cascade), refresh tokens past REFRESH_TOKEN_TTL (rotation
 * rejects them as expired before looking at reuse), one-time tokens and MFA challenges expired
 * over a day ago, and MFA factors enrolled over a day ago but never verified (they guard
 * nothing; the user enrols again).
 */
export async function pruneAuthTables(
  db: Db,
  refreshTtlS: number,
): Promise<{ sessions: number; refreshTokens: number; oneTimeTokens: number; mfaChallenges: number; unverifiedFactors: number }> {
  const s = await db.execute(sql`delete from sessions where coalesce(revoked_at, expires_at) < now() - interval '1 day'`);
  const r = await db.execute(sql`delete from refresh_tokens where created_at < now() - make_interval(secs => ${refreshTtlS}) - interval '1 day'`);
  const o = await db.execute(sql`delete from one_time_tokens where expires_at < now() - interval '1 day'`);
  const c = await db.execute(sql`delete from mfa_challenges where expires_at < now() - interval '1 day'`);
  const f = await db.execute(sql`delete from mfa_factors where status = 'unverified' and created_at < now() - interval '1 day'`);
  return { sessions: s.count, refreshTokens: r.count, oneTimeTokens: o.count, mfaChallenges: c.count, unverifiedFactors: f.count };
}
