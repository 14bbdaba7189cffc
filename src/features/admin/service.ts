import { requireActor, type RequestContext } from '../../context/index.js';
import type { User, UserRole } from '../../db/schema/index.js';
import { AppError } from '../../errors/app-error.js';
import { recordAudit } from '../audit/record.js';
import { findUserById, lockUser, revokeUserSessions, updateUser } from '../auth/queries.js';
import { retireOneTimeTokens } from '../auth/tokens.js';
import { eraseAccount } from '../auth/account.js';
import { notifyAccountDeleted } from '../auth/notices.js';
import type { Mailer } from '../../plugins/mailer.js';
import { listUsers, lockEnabledAdmins, type UserListFilter } from './queries.js';

export interface AdminContext {
  request: RequestContext;
  /** For the notice to a deleted user; without it no notice is sent (the CLI). */
  mailer?: Mailer;
}

export async function list(ctx: AdminContext, filter: UserListFilter): Promise<{ users: User[]; next: User | null }> {
  // One extra row tells whether another page exists without a count.
  const rows = await listUsers(ctx.request.readDb, { ...filter, limit: filter.limit + 1 });
  const page = rows.slice(0, filter.limit);
  return { users: page, next: rows.length > filter.limit ? page[page.length - 1]! : null };
}

export async function get(ctx: AdminContext, id: string): Promise<User> {
  const user = await findUserById(ctx.request.readDb, id);
  if (!user) throw new AppError('not_found', { message: 'User not found.' });
  return user;
}

export interface AdminPatch {
  role?: UserRole;
  disabled?: boolean;
}

/**
 * Role change and disable/enable. Disabling revokes every session at once. At least one
 * enabled admin always remains, however many admins act at the same moment from however many
 * tasks: the guard counts admins whose rows this transaction holds locked (see
 * lockEnabledAdmins), never a snapshot another transaction could be changing.
 */
export async function update(ctx: AdminContext, id: string, patch: AdminPatch): Promise<User> {
  const { request } = ctx;
  const actorId = requireActor(request).id;
  return request.db.transaction(async (tx) => {
    // The admin rows first, then the target: every admin change takes its locks in this order.
    const admins = await lockEnabledAdmins(tx);
    // The caller was an admin when the request was authenticated; a demotion or disabling of
    // the caller that committed since then wins over this request.
    if (!admins.includes(actorId)) throw new AppError('forbidden');
    const before = await lockUser(tx, id);
    if (!before) throw new AppError('not_found', { message: 'User not found.' });
    const changes: Record<string, { before: unknown; after: unknown }> = {};
    if (patch.role !== undefined && patch.role !== before.role) changes.role = { before: before.role, after: patch.role };
    const wasDisabled = before.disabled_at !== null;
    if (patch.disabled !== undefined && patch.disabled !== wasDisabled) changes.disabled = { before: wasDisabled, after: patch.disabled };
    if (Object.keys(changes).length === 0) return before;
    const losesAdmin = before.role === 'admin' && !wasDisabled && (changes.role || patch.disabled === true);
    if (losesAdmin && !admins.some((adminId) => adminId !== id)) {
      throw new AppError('conflict', { message: 'This is the last active admin; promote another user first.' });
    }
    const after = (await updateUser(tx, id, {
      ...(changes.role ? { role: patch.role } : {}),
      ...(changes.disabled ? { disabled_at: patch.disabled ? new Date().toISOString() : null } : {}),
    }))!;
    let revoked = 0;
    if (patch.disabled === true && changes.disabled) {
      revoked = await revokeUserSessions(tx, id, 'disabled');
      // Links mailed before the disable (reset, verification) stay dead if the user is enabled again.
      await retireOneTimeTokens(tx, id);
    }
    await recordAudit(tx, request.audit, { actor_id: actorId, action: 'admin.user_update', entity_type: 'user', entity_id: id, changes: { ...changes, ...(revoked ? { sessions_revoked: { before: null, after: revoked } } : {}) } });
    return after;
  });
}

/**
 * Deletes a user's account as DELETE /me does (documents, analyses, sessions; a tombstone
 * stays), audited as admin.user_delete with the admin as actor. The last enabled admin cannot
 * be deleted (eraseAccount holds the admin rows locked).
 */
export async function remove(ctx: AdminContext, id: string): Promise<void> {
  const { request } = ctx;
  const actorId = requireActor(request).id;
  const erased = await request.db.transaction((tx) => eraseAccount(tx, id, { actorId, action: 'admin.user_delete', audit: request.audit }));
  if (ctx.mailer) notifyAccountDeleted({ mailer: ctx.mailer, log: request.log }, erased.email, true);
}
