import { createHash, randomInt, randomUUID } from 'node:crypto';
import { isIP } from 'node:net';
import { generateSecret, generateURI, verify as verifyTotp } from 'otplib';
import QRCode from 'qrcode';
import type { Tx } from '../../../db/client.js';
import type { MfaFactor } from '../../../db/schema/index.js';
import { sqlState } from '../../../errors/database.js';
import { AppError } from '../../../errors/app-error.js';
import { recordAudit } from '../../audit/record.js';
import { findUserById } from '../queries.js';
import { notifyMfaFactorAdded, notifyMfaFactorRemoved } from '../notices.js';
import { issuerOf, limit, limits, noticeSender, type AuthContext } from '../service.js';
import { upgradeSession, type IssuedSession } from '../sessions.js';
import {
  claimTimeStep,
  closeChallenge,
  consumeRecoveryCode,
  countFactors,
  countUnusedRecoveryCodes,
  deleteAllFactors,
  deleteFactor,
  deleteRecoveryCodes,
  findFactor,
  findOpenChallenge,
  hasVerifiedFactor,
  insertChallenge,
  insertFactor,
  listFactors,
  markFactorVerified,
  replaceRecoveryCodes,
  resealFactor,
  revokeAal1Sessions,
} from './queries.js';
import { secretBox, type SecretBox } from './secret-box.js';

// TOTP multi-factor (RFC 6238: SHA-1, 6 digits, 30 s steps, one step of clock drift either
// way), recovery codes and the aal2 upgrade of a session. Both HTTP surfaces call these.

/** Factors a user may hold at once, verified or not (GoTrue's default maximum). */
export const MAX_FACTORS = 10;
export const CHALLENGE_TTL_S = 300;
export const RECOVERY_CODE_COUNT = 10;
const PERIOD_S = 30;

const boxes = new WeakMap<object, SecretBox>();
function boxOf(ctx: AuthContext): SecretBox {
  const mfa = ctx.app.config.auth.mfa;
  let box = boxes.get(mfa);
  if (!box) boxes.set(mfa, (box = secretBox(mfa.encryptionKey, mfa.previousKeys)));
  return box;
}

const audit = (ctx: AuthContext) => ctx.request?.audit ?? null;
const ipOf = (ctx: AuthContext) => (ctx.request?.audit.ip && isIP(ctx.request.audit.ip) ? ctx.request.audit.ip : null);

export interface Enrolment {
  factor: MfaFactor;
  secret: string;
  uri: string;
  qrSvg: string;
}

/** A new, unverified TOTP factor: the only time its secret leaves the server. */
export async function enrollTotp(ctx: AuthContext, userId: string, input: { friendlyName?: string | null; issuer?: string | null }): Promise<Enrolment> {
  const { app } = ctx;
  const user = await findUserById(app.db, userId);
  if (!user) throw new AppError('unauthorized');
  if ((await countFactors(app.db, userId)) >= MAX_FACTORS) {
    throw new AppError('conflict', { message: `At most ${MAX_FACTORS} factors per user; unenrol one first.`, details: [{ field: 'factor', message: 'too many factors', reason: 'too_many_factors' }] });
  }
  const secret = generateSecret();
  const id = randomUUID();
  const sealed = boxOf(ctx).seal(id, secret);
  const issuer = input.issuer || app.config.auth.mfa.issuer;
  const uri = generateURI({ issuer, label: user.email, secret });
  const qrSvg = await QRCode.toString(uri, { type: 'svg', errorCorrectionLevel: 'M', margin: 1 });
  const factor = await app.db.transaction(async (tx) => {
    let row: MfaFactor;
    try {
      row = await insertFactor(tx, { id, user_id: userId, friendly_name: input.friendlyName ?? null, secret_ciphertext: sealed.ciphertext, secret_key_id: sealed.keyId });
    } catch (err) {
      if (sqlState(err) === '23505') {
        throw new AppError('conflict', { message: 'A factor with this friendly name already exists.', details: [{ field: 'friendly_name', message: 'is already used', reason: 'name_conflict' }] });
      }
      throw err;
    }
    await recordAudit(tx, audit(ctx), { actor_id: userId, action: 'mfa.enroll', entity_type: 'mfa_factor', entity_id: id, changes: { factor_type: 'totp', friendly_name: row.friendly_name } });
    return row;
  });
  return { factor, secret, uri, qrSvg };
}

export function factorsOf(ctx: AuthContext, userId: string): Promise<MfaFactor[]> {
  return listFactors(ctx.app.db, userId);
}

export async function challenge(ctx: AuthContext, userId: string, factorId: string): Promise<{ id: string; expiresAt: number }> {
  const { app } = ctx;
  const factor = await findFactor(app.db, userId, factorId);
  if (!factor) throw new AppError('not_found', { message: 'MFA factor not found.' });
  return app.db.transaction(async (tx) => {
    const row = await insertChallenge(tx, factor.id, ipOf(ctx), CHALLENGE_TTL_S);
    await recordAudit(tx, audit(ctx), { actor_id: userId, action: 'mfa.challenge', entity_type: 'mfa_factor', entity_id: factor.id, changes: { challenge_id: row.id } });
    return { id: row.id, expiresAt: Math.floor(Date.parse(row.expires_at) / 1000) };
  });
}

const normalizeCode = (code: string) => code.replace(/[\s-]/g, '').toLowerCase();

/** The time step a code matches for this factor, or null. Whether that step was already used is claimTimeStep's to say. */
async function matchingStep(ctx: AuthContext, factor: MfaFactor, code: string): Promise<{ step: number; stale: string | null } | null> {
  const digits = normalizeCode(code);
  if (!/^\d{6}$/.test(digits)) return null;
  const { secret, stale } = boxOf(ctx).open(factor.id, { ciphertext: factor.secret_ciphertext, keyId: factor.secret_key_id });
  const result = await verifyTotp({
    secret,
    token: digits,
    period: PERIOD_S,
    epochTolerance: PERIOD_S,
  }).catch(() => ({ valid: false as const }));
  // A TOTP result carries the matched time step (otplib types it as the TOTP/HOTP union).
  if (!result.valid || !('timeStep' in result) || typeof result.timeStep !== 'number') return null;
  return { step: result.timeStep, stale: stale ? secret : null };
}

async function failed(ctx: AuthContext, userId: string, factorId: string | null, reason: string): Promise<never> {
  await recordAudit(ctx.app.db, audit(ctx), { actor_id: userId, action: 'mfa.verify_failed', entity_type: 'mfa_factor', entity_id: factorId, changes: { reason } });
  throw new AppError('mfa_verification_failed');
}

const codeLimits = (ctx: AuthContext, userId: string, factorId: string | null) =>
  limit(ctx, [
    ...(factorId ? [{ bucket: 'mfa:factor', subject: factorId, limit: limits(ctx).mfaPerFactor }] : []),
    { bucket: 'mfa:user', subject: userId, limit: limits(ctx).mfaPerUser },
  ]);

/**
 * Checks a TOTP code against the factor (rate limited per factor and per user, before the
 * code is looked at) and records its time step, so the same code is never accepted twice.
 * Runs the rest of the work (fn) in the same transaction.
 */
async function acceptCode<T>(ctx: AuthContext, userId: string, factorId: string, code: string, fn: (tx: Tx, factor: MfaFactor) => Promise<T>): Promise<T> {
  const { app } = ctx;
  await codeLimits(ctx, userId, factorId);
  const factor = await findFactor(app.db, userId, factorId);
  if (!factor) throw new AppError('not_found', { message: 'MFA factor not found.' });
  const match = await matchingStep(ctx, factor, code);
  if (!match) return failed(ctx, userId, factor.id, 'wrong_code');
  if (factor.last_used_step !== null && match.step <= factor.last_used_step) return failed(ctx, userId, factor.id, 'replayed_code');
  const result = await app.db.transaction(async (tx) => {
    if (!(await claimTimeStep(tx, factor.id, match.step))) return { replayed: true as const };
    if (match.stale) await resealFactor(tx, factor.id, boxOf(ctx).seal(factor.id, match.stale));
    return { replayed: false as const, value: await fn(tx, factor) };
  });
  if (result.replayed) return failed(ctx, userId, factor.id, 'replayed_code');
  return result.value;
}

export interface Verified {
  session: IssuedSession;
  /** The first verified factor switches MFA on and creates the recovery codes: shown this once. */
  recoveryCodes: string[] | null;
}

/** Verifies a challenge with a code: verifies the factor if it was new, and raises the session to aal2. */
export async function verify(ctx: AuthContext, userId: string, sessionId: string, factorId: string, challengeId: string, code: string): Promise<Verified> {
  const { app } = ctx;
  const open = await findFactor(app.db, userId, factorId).then((f) => (f ? findOpenChallenge(app.db, f.id, challengeId) : undefined));
  if (!open) {
    if (!(await findFactor(app.db, userId, factorId))) throw new AppError('not_found', { message: 'MFA factor not found.' });
    throw new AppError('mfa_challenge_expired');
  }
  const added: { email: string | null; name: string | null }[] = [];
  const verified = await acceptCode(ctx, userId, factorId, code, async (tx, factor) => {
    if (!(await closeChallenge(tx, challengeId))) throw new AppError('mfa_challenge_expired');
    let recoveryCodes: string[] | null = null;
    let sessionsRevoked = 0;
    if (factor.status !== 'verified') {
      const first = !(await hasVerifiedFactor(tx, userId));
      await markFactorVerified(tx, factor.id);
      if (first) {
        recoveryCodes = newRecoveryCodes();
        await replaceRecoveryCodes(tx, userId, recoveryCodes.map(hashRecoveryCode));
        sessionsRevoked = await revokeAal1Sessions(tx, userId, sessionId);
      }
    }
    const user = (await findUserById(tx, userId))!;
    const session = await upgradeSession(tx, issuerOf(ctx), user, sessionId, 'totp', factor.id);
    if (!session) throw new AppError('invalid_token');
    await recordAudit(tx, audit(ctx), {
      actor_id: userId,
      action: 'mfa.verify',
      entity_type: 'mfa_factor',
      entity_id: factor.id,
      changes: { challenge_id: challengeId, session_id: sessionId, aal: 'aal2', factor_verified: factor.status !== 'verified', recovery_codes_issued: recoveryCodes !== null, sessions_revoked: sessionsRevoked },
    });
    if (factor.status !== 'verified') added.push({ email: user.email, name: factor.friendly_name });
    return { session, recoveryCodes };
  });
  // A factor that just became active is a security notice, sent once the change has committed.
  for (const { email, name } of added) if (email) notifyMfaFactorAdded(noticeSender(ctx), email, name);
  return verified;
}

/** Removes one of the user's factors. A verified one needs an aal2 session. */
export async function unenroll(ctx: AuthContext, userId: string, aal: string | undefined, factorId: string): Promise<MfaFactor> {
  const { app } = ctx;
  const factor = await findFactor(app.db, userId, factorId);
  if (!factor) throw new AppError('not_found', { message: 'MFA factor not found.' });
  if (factor.status === 'verified' && aal !== 'aal2') throw new AppError('mfa_required', { message: 'Removing a verified factor requires an aal2 session.' });
  return app.db.transaction(async (tx) => {
    const removed = await deleteFactor(tx, userId, factorId);
    if (!removed) throw new AppError('not_found', { message: 'MFA factor not found.' });
    // Without a verified factor left, MFA is off: the recovery codes go with it.
    if (!(await hasVerifiedFactor(tx, userId))) await deleteRecoveryCodes(tx, userId);
    await recordAudit(tx, audit(ctx), { actor_id: userId, action: 'mfa.unenroll', entity_type: 'mfa_factor', entity_id: factorId, changes: { status: removed.status } });
    return removed;
  }).then(async (removed) => {
    // Only an active factor is news to the owner (an unverified one never guarded sign-in).
    const user = removed.status === 'verified' ? await findUserById(app.db, userId) : undefined;
    if (user?.email) notifyMfaFactorRemoved(noticeSender(ctx), user.email, removed.friendly_name);
    return removed;
  });
}

/** An admin removes every factor of a user (the user signs in with the password alone again). */
export async function adminRemoveFactors(ctx: AuthContext, actorId: string, userId: string): Promise<number> {
  const { app } = ctx;
  const user = await findUserById(app.db, userId);
  if (!user) throw new AppError('not_found', { message: 'User not found.' });
  const removed = await app.db.transaction(async (tx) => {
    const removed = await deleteAllFactors(tx, userId);
    await deleteRecoveryCodes(tx, userId);
    await recordAudit(tx, audit(ctx), { actor_id: actorId, action: 'admin.mfa_factors_remove', entity_type: 'user', entity_id: userId, changes: { factors_removed: removed } });
    return removed;
  });
  if (removed > 0 && user.email) notifyMfaFactorRemoved(noticeSender(ctx), user.email);
  return removed;
}

// Recovery codes: 12 characters from 31 unambiguous ones (~59 bits), shown as xxxx-xxxx-xxxx.
const RECOVERY_ALPHABET = 'abcdefghjkmnpqrstuvwxyz23456789';
function newRecoveryCodes(): string[] {
  return Array.from({ length: RECOVERY_CODE_COUNT }, () => {
    const chars = Array.from({ length: 12 }, () => RECOVERY_ALPHABET[randomInt(RECOVERY_ALPHABET.length)]).join('');
    return `${chars.slice(0, 4)}-${chars.slice(4, 8)}-${chars.slice(8)}`;
  });
}
const hashRecoveryCode = (code: string) => createHash('sha256').update(`offbase-recovery:${normalizeCode(code)}`).digest('hex');

/** A new set of ten codes; the old set stops working. Only while MFA is on. */
export async function regenerateRecoveryCodes(ctx: AuthContext, userId: string): Promise<string[]> {
  const { app } = ctx;
  if (!(await hasVerifiedFactor(app.db, userId))) throw new AppError('conflict', { message: 'Recovery codes exist only while a verified factor does.' });
  const codes = newRecoveryCodes();
  await app.db.transaction(async (tx) => {
    await replaceRecoveryCodes(tx, userId, codes.map(hashRecoveryCode));
    await recordAudit(tx, audit(ctx), { actor_id: userId, action: 'mfa.recovery_codes_regenerate', entity_type: 'user', entity_id: userId, changes: { count: codes.length } });
  });
  return codes;
}

export function unusedRecoveryCodes(ctx: AuthContext, userId: string): Promise<number> {
  return countUnusedRecoveryCodes(ctx.app.db, userId);
}

async function useRecoveryCode(ctx: AuthContext, userId: string, code: string): Promise<boolean> {
  const ok = await consumeRecoveryCode(ctx.app.db, userId, hashRecoveryCode(code));
  if (ok) await recordAudit(ctx.app.db, audit(ctx), { actor_id: userId, action: 'mfa.recovery_code_used', entity_type: 'user', entity_id: userId, changes: { remaining: await countUnusedRecoveryCodes(ctx.app.db, userId) } });
  return ok;
}

/** Completes MFA with a recovery code instead of a TOTP code: the code is used up, the session raised to aal2. */
export async function verifyRecoveryCode(ctx: AuthContext, userId: string, sessionId: string, code: string): Promise<IssuedSession> {
  const { app } = ctx;
  await codeLimits(ctx, userId, null);
  if (!(await hasVerifiedFactor(app.db, userId)) || !(await useRecoveryCode(ctx, userId, code))) return failed(ctx, userId, null, 'wrong_recovery_code');
  return app.db.transaction(async (tx) => {
    const user = (await findUserById(tx, userId))!;
    const session = await upgradeSession(tx, issuerOf(ctx), user, sessionId, 'recovery_code', null);
    if (!session) throw new AppError('invalid_token');
    await recordAudit(tx, audit(ctx), { actor_id: userId, action: 'mfa.verify', entity_type: 'session', entity_id: sessionId, changes: { method: 'recovery_code', aal: 'aal2' } });
    return session;
  });
}

/**
 * For a sensitive action (account deletion): passes for a user without a verified factor;
 * otherwise `code` must be a current TOTP code of one of their verified factors (accepted
 * once, rate limited like any code) or an unused recovery code (then used up). Throws
 * mfa_required without a code, mfa_verification_failed (422) for a wrong one.
 */
export async function assertSecondFactor(ctx: AuthContext, userId: string, code?: string): Promise<void> {
  const { app } = ctx;
  const verified = (await listFactors(app.db, userId)).filter((f) => f.status === 'verified');
  if (verified.length === 0) return;
  if (!code) throw new AppError('mfa_required', { message: 'A code from your authenticator app (or a recovery code) is required.' });
  await codeLimits(ctx, userId, null);
  if (/^\d{6}$/.test(normalizeCode(code))) {
    for (const factor of verified) {
      const match = await matchingStep(ctx, factor, code);
      if (match && (await claimTimeStep(app.db, factor.id, match.step))) {
        await recordAudit(app.db, audit(ctx), { actor_id: userId, action: 'mfa.step_up', entity_type: 'mfa_factor', entity_id: factor.id });
        return;
      }
    }
  } else if (await useRecoveryCode(ctx, userId, code)) {
    return;
  }
  await failed(ctx, userId, null, 'wrong_code');
}
