import { eq, sql } from 'drizzle-orm';
import type { AuditFields } from '../../context/index.js';
import type { DbOrTx } from '../../db/client.js';
import { analyses, documents, mfa_factors, mfa_recovery_codes, one_time_tokens, sessions, users, type User } from '../../db/schema/index.js';
import { AppError } from '../../errors/app-error.js';
import { recordAudit } from '../audit/record.js';
import { lockEnabledAdmins } from '../admin/queries.js';
import { accountExport } from './export.js';
import { notifyAccountDeleted } from './notices.js';
import { assertSecondFactor } from './mfa/service.js';
import { lockUser } from './queries.js';
import { confirmPassword, noticeSender, type AuthContext } from './service.js';

// Account deletion: the user's documents and analyses, sessions and mailed links go in one
// transaction, and the users row becomes a tombstone (deleted_at set; email, name, hash and
// profile data gone; users_live_check holds it to that). The row stays so the append-only
// audit trail's actor ids keep resolving; the address is free to register again.

export interface ErasedAccount {
  /** The address the account had, for the notice (the row no longer holds it). */
  email: string;
  documents: number;
  analyses: number;
  sessions: number;
}

export interface EraseOptions {
  /** Who deletes: the user themselves, or an admin (the audit actor). */
  actorId: string;
  action: 'auth.account_delete' | 'admin.user_delete';
  audit: AuditFields | null;
}

/**
 * Deletes the account `userId` inside the caller's transaction. The admin rows are locked
 * first, then the target (the order every admin change takes): the last enabled admin cannot
 * be deleted, by themselves or by another admin, however many act at once.
 */
export async function eraseAccount(tx: DbOrTx, userId: string, options: EraseOptions): Promise<ErasedAccount> {
  const admins = await lockEnabledAdmins(tx);
  if (options.action === 'admin.user_delete' && !admins.includes(options.actorId)) throw new AppError('forbidden');
  const user: User | undefined = await lockUser(tx, userId);
  if (!user) throw new AppError('not_found', { message: 'User not found.' });
  if (admins.includes(userId) && !admins.some((id) => id !== userId)) {
    throw new AppError('conflict', { message: 'This is the last active admin; promote another user first.' });
  }
  // Analyses first (also any on another owner's document), then the documents (their
  // remaining analyses go by cascade).
  const removedAnalyses = await tx.delete(analyses).where(eq(analyses.owner_id, userId)).returning({ id: analyses.id });
  const removedDocuments = await tx.delete(documents).where(eq(documents.owner_id, userId)).returning({ id: documents.id });
  // Deleting the session rows ends every access token at once (the session check finds no
  // row) and takes the refresh tokens with them; sessions_revoked_at ends cut-over tokens.
  const removedSessions = await tx.delete(sessions).where(eq(sessions.user_id, userId)).returning({ id: sessions.id });
  await tx.delete(one_time_tokens).where(eq(one_time_tokens.user_id, userId));
  // The second factors go too (their challenges with them): the tombstone row stays, so no cascade fires.
  await tx.delete(mfa_factors).where(eq(mfa_factors.user_id, userId));
  await tx.delete(mfa_recovery_codes).where(eq(mfa_recovery_codes.user_id, userId));
  await tx
    .update(users)
    .set({
      email: null,
      full_name: null,
      password_hash: null,
      preferences: {},
      metadata: {},
      role: 'user',
      email_verified_at: null,
      last_login_at: null,
      deleted_at: sql`now()`,
      sessions_revoked_at: sql`now()`,
    })
    .where(eq(users.id, userId));
  const erased = { email: user.email, documents: removedDocuments.length, analyses: removedAnalyses.length, sessions: removedSessions.length };
  await recordAudit(tx, options.audit, {
    actor_id: options.actorId,
    action: options.action,
    entity_type: 'user',
    entity_id: userId,
    changes: { documents: erased.documents, analyses: erased.analyses, sessions: erased.sessions, ...(user.role === 'admin' ? { role: 'admin' } : {}) },
  });
  return erased;
}

export interface DeleteAccountInput {
  password: string;
  /** A TOTP or recovery code, for a user with an active MFA factor. */
  code?: string;
}

/** DELETE /me: the current password (and, with MFA on, a code) confirms it; every session ends. */
export async function deleteAccount(ctx: AuthContext, userId: string, input: DeleteAccountInput): Promise<void> {
  const { app, request } = ctx;
  await confirmPassword(ctx, userId, input.password, 'auth.account_delete_failed');
  // With MFA on, a TOTP or recovery code too: after the password, before anything is deleted.
  await assertSecondFactor(ctx, userId, input.code);
  const erased = await app.db.transaction((tx) => eraseAccount(tx, userId, { actorId: userId, action: 'auth.account_delete', audit: request?.audit ?? null }));
  notifyAccountDeleted(noticeSender(ctx), erased.email);
}

/** GET /me/export: the account as JSON text chunks (see export.ts); the export is audited. */
export async function exportAccount(ctx: AuthContext, userId: string): Promise<AsyncIterableIterator<string>> {
  const chunks = await accountExport(ctx.app.database.sql, userId);
  try {
    await recordAudit(ctx.app.db, ctx.request?.audit ?? null, { actor_id: userId, action: 'auth.account_export', entity_type: 'user', entity_id: userId });
  } catch (err) {
    await chunks.return?.();
    throw err;
  }
  return chunks;
}
