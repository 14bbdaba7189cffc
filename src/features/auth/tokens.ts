import { AppError } from '../../errors/app-error.js';
import { and, eq, gt, isNull, sql } from 'drizzle-orm';
import type { DbOrTx } from '../../db/client.js';
import { one_time_tokens, type OneTimeTokenKind } from '../../db/schema/index.js';
import { hashToken, newOpaqueToken } from './sessions.js';

// Single-use tokens mailed to the user (password reset, email verification). Stored as
// SHA-256 only; consuming one is a single UPDATE, so two concurrent uses cannot both win.

export const ONE_TIME_TOKEN_TTL_S: Record<OneTimeTokenKind, number> = {
  password_reset: 3600,
  email_verification: 86_400,
};

/** Issues a token and retires the user's older unused ones of the same kind: only the newest link works. */
export async function issueOneTimeToken(db: DbOrTx, userId: string, kind: OneTimeTokenKind): Promise<string> {
  await db
    .update(one_time_tokens)
    .set({ used_at: sql`now()` })
    .where(and(eq(one_time_tokens.user_id, userId), eq(one_time_tokens.kind, kind), isNull(one_time_tokens.used_at)));
  const token = newOpaqueToken();
  await db.insert(one_time_tokens).values({
    user_id: userId,
    kind,
    token_hash: hashToken(token),
    expires_at: sql`now() + make_interval(secs => ${ONE_TIME_TOKEN_TTL_S[kind]})`,
  });
  return token;
}

/**
 * Retires every unused one-time token of the user, of every kind. A password change or reset
 * (and disabling the account) makes the links mailed before it worthless: a leaked reset or
 * verification link must not outlive the password it was sent under.
 */
export async function retireOneTimeTokens(db: DbOrTx, userId: string): Promise<number> {
  const rows = await db
    .update(one_time_tokens)
    .set({ used_at: sql`now()` })
    .where(and(eq(one_time_tokens.user_id, userId), isNull(one_time_tokens.used_at)))
    .returning({ id: one_time_tokens.id });
  return rows.length;
}

const live = (token: string, kind: OneTimeTokenKind) =>
  and(eq(one_time_tokens.token_hash, hashToken(token)), eq(one_time_tokens.kind, kind), isNull(one_time_tokens.used_at), gt(one_time_tokens.expires_at, sql`now()`));

/** The user a live token belongs to, without using it up (to check a new password first). */
export async function peekOneTimeToken(db: DbOrTx, token: string, kind: OneTimeTokenKind): Promise<string | null> {
  const [row] = await db.select({ user_id: one_time_tokens.user_id }).from(one_time_tokens).where(live(token, kind)).limit(1);
  return row?.user_id ?? null;
}

/** Uses the token up; null when it is unknown, used, expired or of another kind. */
export async function consumeOneTimeToken(db: DbOrTx, token: string, kind: OneTimeTokenKind): Promise<string | null> {
  const [row] = await db.update(one_time_tokens).set({ used_at: sql`now()` }).where(live(token, kind)).returning({ user_id: one_time_tokens.user_id });
  return row?.user_id ?? null;
}

/**
 * invalid_token for a mailed link: 400, not the 401 an access token gets, because nothing
 * about the caller's authentication is wrong — the link in the request body is.
 */
export class InvalidLinkError extends AppError {
  override readonly statusCode = 400;
  constructor(message = 'The link is invalid, used or expired.') {
    super('invalid_token', { message });
  }
}
