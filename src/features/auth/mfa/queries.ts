import { and, asc, count, eq, getTableColumns, isNull, lt, or, sql } from 'drizzle-orm';
import type { DbOrTx } from '../../../db/client.js';
import { namedSelection, renderedOnce } from '../../../db/prepared.js';
import { mfa_challenges, mfa_factors, mfa_recovery_codes, sessions, type MfaFactor } from '../../../db/schema/index.js';

// Every statement on a user's factors, challenges and recovery codes. Each names the user
// (directly or through the factor's owner) in its WHERE clause.

export async function hasVerifiedFactor(db: DbOrTx, userId: string): Promise<boolean> {
  const [row] = await db
    .select({ id: mfa_factors.id })
    .from(mfa_factors)
    .where(and(eq(mfa_factors.user_id, userId), eq(mfa_factors.status, 'verified')))
    .limit(1);
  return row !== undefined;
}

// Read with the user on /auth/v1/user (supabase-js getUser, which SSR middleware calls on
// every page) and on the MFA routes: rendered once, the user a placeholder.
const factorsByUser = renderedOnce('offbase_factors_of_user', (db) => {
  const selection = namedSelection(getTableColumns(mfa_factors));
  return { query: db.select(selection).from(mfa_factors).where(eq(mfa_factors.user_id, sql.placeholder('user'))).orderBy(asc(mfa_factors.created_at), asc(mfa_factors.id)), selection };
});

export async function listFactors(db: DbOrTx, userId: string): Promise<MfaFactor[]> {
  return (await factorsByUser(db, { user: userId })) as MfaFactor[];
}

export async function countFactors(db: DbOrTx, userId: string): Promise<number> {
  const [row] = await db.select({ n: count() }).from(mfa_factors).where(eq(mfa_factors.user_id, userId));
  return row?.n ?? 0;
}

/** The user's factor; undefined for an unknown id and for another user's factor alike. */
export async function findFactor(db: DbOrTx, userId: string, factorId: string, lock = false): Promise<MfaFactor | undefined> {
  const query = db
    .select()
    .from(mfa_factors)
    .where(and(eq(mfa_factors.id, factorId), eq(mfa_factors.user_id, userId)))
    .limit(1);
  const [row] = lock ? await query.for('update') : await query;
  return row;
}

export interface NewFactor {
  id: string;
  user_id: string;
  friendly_name: string | null;
  secret_ciphertext: string;
  secret_key_id: string;
  status?: 'unverified' | 'verified';
  verified_at?: string | null;
  created_at?: string;
}

export async function insertFactor(db: DbOrTx, values: NewFactor): Promise<MfaFactor> {
  const [row] = await db.insert(mfa_factors).values(values).returning();
  return row!;
}

/**
 * Records the time step of an accepted code, only if it is later than the last accepted one:
 * false means the code (or an earlier one) was already used, so two concurrent uses of one
 * code cannot both win.
 */
export async function claimTimeStep(db: DbOrTx, factorId: string, step: number): Promise<boolean> {
  const rows = await db
    .update(mfa_factors)
    .set({ last_used_step: step, updated_at: sql`now()` })
    .where(and(eq(mfa_factors.id, factorId), or(isNull(mfa_factors.last_used_step), lt(mfa_factors.last_used_step, step))))
    .returning({ id: mfa_factors.id });
  return rows.length > 0;
}

export async function markFactorVerified(db: DbOrTx, factorId: string): Promise<void> {
  await db
    .update(mfa_factors)
    .set({ status: 'verified', verified_at: sql`now()`, updated_at: sql`now()` })
    .where(eq(mfa_factors.id, factorId));
}

export async function resealFactor(db: DbOrTx, factorId: string, sealed: { ciphertext: string; keyId: string }): Promise<void> {
  await db.update(mfa_factors).set({ secret_ciphertext: sealed.ciphertext, secret_key_id: sealed.keyId }).where(eq(mfa_factors.id, factorId));
}

export async function deleteFactor(db: DbOrTx, userId: string, factorId: string): Promise<MfaFactor | undefined> {
  const [row] = await db
    .delete(mfa_factors)
    .where(and(eq(mfa_factors.id, factorId), eq(mfa_factors.user_id, userId)))
    .returning();
  return row;
}

export async function deleteAllFactors(db: DbOrTx, userId: string): Promise<number> {
  const rows = await db.delete(mfa_factors).where(eq(mfa_factors.user_id, userId)).returning({ id: mfa_factors.id });
  return rows.length;
}

export async function insertChallenge(db: DbOrTx, factorId: string, ip: string | null, ttlS: number): Promise<{ id: string; expires_at: string }> {
  const [row] = await db
    .insert(mfa_challenges)
    .values({ factor_id: factorId, ip, expires_at: sql`now() + make_interval(secs => ${ttlS})` })
    .returning({ id: mfa_challenges.id, expires_at: mfa_challenges.expires_at });
  return row!;
}

/** The challenge of this factor if it is still open (unused, unexpired). */
export async function findOpenChallenge(db: DbOrTx, factorId: string, challengeId: string): Promise<{ id: string } | undefined> {
  const [row] = await db
    .select({ id: mfa_challenges.id })
    .from(mfa_challenges)
    .where(and(eq(mfa_challenges.id, challengeId), eq(mfa_challenges.factor_id, factorId), isNull(mfa_challenges.verified_at), sql`${mfa_challenges.expires_at} > now()`))
    .limit(1);
  return row;
}

/** Uses the challenge up; false when another request used it first. */
export async function closeChallenge(db: DbOrTx, challengeId: string): Promise<boolean> {
  const rows = await db
    .update(mfa_challenges)
    .set({ verified_at: sql`now()` })
    .where(and(eq(mfa_challenges.id, challengeId), isNull(mfa_challenges.verified_at)))
    .returning({ id: mfa_challenges.id });
  return rows.length > 0;
}

/** Replaces the user's recovery codes with a new set (hashes only). */
export async function replaceRecoveryCodes(db: DbOrTx, userId: string, hashes: string[]): Promise<void> {
  await db.delete(mfa_recovery_codes).where(eq(mfa_recovery_codes.user_id, userId));
  if (hashes.length) await db.insert(mfa_recovery_codes).values(hashes.map((code_hash) => ({ user_id: userId, code_hash })));
}

export async function deleteRecoveryCodes(db: DbOrTx, userId: string): Promise<void> {
  await db.delete(mfa_recovery_codes).where(eq(mfa_recovery_codes.user_id, userId));
}

/** Uses one recovery code up; false when it is unknown, another user's, or used. */
export async function consumeRecoveryCode(db: DbOrTx, userId: string, hash: string): Promise<boolean> {
  const rows = await db
    .update(mfa_recovery_codes)
    .set({ used_at: sql`now()` })
    .where(and(eq(mfa_recovery_codes.user_id, userId), eq(mfa_recovery_codes.code_hash, hash), isNull(mfa_recovery_codes.used_at)))
    .returning({ id: mfa_recovery_codes.id });
  return rows.length > 0;
}

export async function countUnusedRecoveryCodes(db: DbOrTx, userId: string): Promise<number> {
  const [row] = await db
    .select({ n: count() })
    .from(mfa_recovery_codes)
    .where(and(eq(mfa_recovery_codes.user_id, userId), isNull(mfa_recovery_codes.used_at)));
  return row?.n ?? 0;
}

/** Ends the user's other password-only sessions once MFA is switched on (GoTrue does the same). */
export async function revokeAal1Sessions(db: DbOrTx, userId: string, keepSessionId: string): Promise<number> {
  const rows = await db
    .update(sessions)
    .set({ revoked_at: sql`now()`, revoked_reason: 'mfa_enabled' })
    .where(and(eq(sessions.user_id, userId), eq(sessions.aal, 'aal1'), isNull(sessions.revoked_at), sql`${sessions.id} <> ${keepSessionId}`))
    .returning({ id: sessions.id });
  return rows.length;
}
