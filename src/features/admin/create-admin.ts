import type { Config } from '../../config.js';
import type { Db } from '../../db/client.js';
import { recordAudit } from '../audit/record.js';
import { hashPassword, passwordWeaknesses } from '../auth/passwords.js';
import { findUserByEmail, insertUser, lockUser, normalizeEmail, updateUser } from '../auth/queries.js';

export interface CreateAdminResult {
  id: string;
  email: string;
  created: boolean;
  /** What changed on an existing account. */
  changed: string[];
}

/**
 * `offbase create-admin`: creates an admin (email verified) or promotes an existing user and
 * re-enables them, so an operator can always regain access. The password is asked for only
 * when an account is created; an existing account keeps its password.
 */
export async function createOrPromoteAdmin(db: Db, config: Config, rawEmail: string, readPassword: () => Promise<string>): Promise<CreateAdminResult> {
  const email = normalizeEmail(rawEmail);
  if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email)) throw new Error(`not an email address: ${rawEmail}`);
  const existing = await findUserByEmail(db, email);
  if (existing) {
    return db.transaction(async (tx) => {
      const before = (await lockUser(tx, existing.id))!;
      const changes: Record<string, { before: unknown; after: unknown }> = {};
      if (before.role !== 'admin') changes.role = { before: before.role, after: 'admin' };
      if (before.disabled_at) changes.disabled = { before: true, after: false };
      if (Object.keys(changes).length) {
        await updateUser(tx, before.id, { role: 'admin', disabled_at: null });
        await recordAudit(tx, null, { actor_id: null, action: 'admin.user_update', entity_type: 'user', entity_id: before.id, changes: { ...changes, via: 'cli' } });
      }
      return { id: before.id, email, created: false, changed: Object.keys(changes) };
    });
  }
  const password = await readPassword();
  const weaknesses = passwordWeaknesses(password, email);
  if (weaknesses.length) throw new Error(`weak password: ${weaknesses.map((w) => w.message).join('; ')}`);
  const password_hash = await hashPassword(password, config.auth.argon2);
  return db.transaction(async (tx) => {
    const user = await insertUser(tx, { email, password_hash, role: 'admin', email_verified_at: new Date().toISOString() });
    await recordAudit(tx, null, { actor_id: null, action: 'admin.user_create', entity_type: 'user', entity_id: user.id, changes: { role: 'admin', via: 'cli' } });
    return { id: user.id, email, created: true, changed: [] };
  });
}
