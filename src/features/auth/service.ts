import { isIP } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { RequestContext } from '../../context/index.js';
import type { User } from '../../db/schema/index.js';
import type { OneTimeTokenKind } from '../../db/schema/index.js';
import { AppError } from '../../errors/app-error.js';
import type { MailMessage } from '../../plugins/mailer.js';
import type { RateLimitRule } from '../../plugins/rate-limit.js';
import { diff, recordAudit } from '../audit/record.js';
import { passwordResetMail, verificationMail } from './emails.js';
import { notifyPasswordChanged, notifyPasswordReset, type NoticeSender } from './notices.js';
import { hashPassword, passwordWeaknesses, verifyDummy, verifyPassword } from './passwords.js';
import {
  findUserByEmail,
  findUserById,
  insertUser,
  lockUser,
  normalizeEmail,
  recordLogin,
  revokeSession,
  revokeSessionlessTokens,
  revokeUserSessions,
  updateUser,
} from './queries.js';
import { createSession, passwordAssurance, rotateRefreshToken, type IssuedSession, type SessionMeta, type TokenIssuer } from './sessions.js';
import { InvalidLinkError, consumeOneTimeToken, issueOneTimeToken, peekOneTimeToken, retireOneTimeTokens } from './tokens.js';

// The auth use cases, one function each. Both HTTP surfaces (/api/v1/auth and the
// GoTrue-compatible /auth/v1) call these; they shape replies, this file decides.
// Errors are AppErrors with stable codes; each surface maps them to its own body.

/**
 * What the auth services use of the application, named: the database, the configuration, the
 * mailer, the JWT signer, the rate limiter and the process logger. The Fastify instance
 * satisfies it, but a service cannot register routes or hooks, or reach a request, through it.
 */
export type AuthDeps = Pick<FastifyInstance, 'db' | 'database' | 'config' | 'mailer' | 'jwt' | 'rateLimit' | 'log'>;

export interface AuthContext {
  app: AuthDeps;
  /** The request being served (null outside one): client IP for limits, the audit fields, the logger. */
  request: RequestContext | null;
  /** Extra access-token claims of the surface serving the request (see TokenIssuer.claims). */
  claims?: TokenIssuer['claims'];
}

export const issuerOf = ({ app, claims }: AuthContext): TokenIssuer => ({
  sign: (payload) => app.jwt.sign(payload),
  decode: (token) => app.jwt.decode(token),
  refreshTtlS: app.config.auth.refreshTokenTtlS,
  claims,
});

export const metaOf = (request: RequestContext | null): SessionMeta => ({
  userAgent: request?.audit.userAgent ?? null,
  // sessions.ip is inet: a malformed forwarded address is dropped rather than failing the login.
  ip: request?.audit.ip && isIP(request.audit.ip) ? request.audit.ip : null,
});

export const limits = (ctx: AuthContext) => ctx.app.config.rateLimit;
const ipOf = (ctx: AuthContext) => ctx.request?.audit.ip ?? 'unknown';
export const limit = (ctx: AuthContext, rules: RateLimitRule[]) => ctx.app.rateLimit.check(ctx.request, rules);

function assertStrong(password: string, email: string) {
  const weaknesses = passwordWeaknesses(password, email);
  if (weaknesses.length) {
    throw new AppError('weak_password', { details: weaknesses.map((w) => ({ field: 'password', message: w.message, reason: w.reason })) });
  }
}

/** Mail leaves after the reply: SMTP latency must not reveal whether an account exists. */
function sendLater(ctx: AuthContext, message: MailMessage) {
  ctx.app.mailer.send(message).catch((err: Error) => {
    (ctx.request?.log ?? ctx.app.log).error({ err: err.message, subject: message.subject }, 'mail delivery failed');
  });
}

export interface RegisterInput {
  email: string;
  password: string;
  full_name?: string | null;
  /** Free-form profile data (GoTrue's user_metadata); never used for authorization. */
  metadata?: Record<string, unknown>;
}

/** Creates the account. Returns no session when REQUIRE_EMAIL_VERIFICATION is on. */
export async function register(ctx: AuthContext, input: RegisterInput): Promise<{ user: User; session: IssuedSession | null }> {
  const { app, request } = ctx;
  const email = normalizeEmail(input.email);
  await limit(ctx, [{ bucket: 'register:ip', subject: ipOf(ctx), limit: limits(ctx).registerPerIp }]);
  assertStrong(input.password, email);
  const password_hash = await hashPassword(input.password, app.config.auth.argon2);
  const requireVerification = app.config.auth.requireEmailVerification;
  const { user, session, token } = await app.db.transaction(async (tx) => {
    const user = await insertUser(tx, { email, password_hash, full_name: input.full_name ?? null, metadata: input.metadata ?? {} });
    const token = await issueOneTimeToken(tx, user.id, 'email_verification');
    const session = requireVerification ? null : await createSession(tx, issuerOf(ctx), user, metaOf(request));
    await recordAudit(tx, request?.audit ?? null, { actor_id: user.id, action: 'auth.register', entity_type: 'user', entity_id: user.id, changes: { session_id: session?.sessionId ?? null } });
    return { user, session, token };
  });
  sendLater(ctx, verificationMail(app.config.publicUrl, user.email, token));
  return { user, session };
}

export interface LoginInput {
  email: string;
  password: string;
}

/**
 * Password login. Unknown email, no password, disabled, wrong password: one error, and the
 * same argon2 work in every case so timing does not tell them apart.
 */
export async function login(ctx: AuthContext, input: LoginInput): Promise<IssuedSession> {
  const { app, request } = ctx;
  const email = normalizeEmail(input.email);
  await limit(ctx, [
    { bucket: 'login:ip', subject: ipOf(ctx), limit: limits(ctx).loginPerIp },
    { bucket: 'login:email', subject: email, limit: limits(ctx).loginPerEmail },
  ]);
  const params = app.config.auth.argon2;
  const user = await findUserByEmail(app.db, email);
  const fail = async (reason: string): Promise<never> => {
    await recordAudit(app.db, request?.audit ?? null, { actor_id: user?.id ?? null, action: 'auth.login_failed', entity_type: 'user', entity_id: user?.id ?? null, changes: { email, reason } });
    throw new AppError('invalid_credentials');
  };
  if (!user || !user.password_hash || user.disabled_at) {
    await verifyDummy(input.password, params);
    return fail(!user ? 'unknown_email' : user.disabled_at ? 'disabled' : 'no_password');
  }
  const verified = await verifyPassword(user.password_hash, input.password, params);
  if (!verified.ok) return fail('wrong_password');
  if (app.config.auth.requireEmailVerification && !user.email_verified_at) {
    await recordAudit(app.db, request?.audit ?? null, { actor_id: user.id, action: 'auth.login_failed', entity_type: 'user', entity_id: user.id, changes: { email, reason: 'email_not_verified' } });
    throw new AppError('email_not_verified');
  }
  const newHash = verified.needsRehash ? await hashPassword(input.password, params) : null;
  return app.db.transaction(async (tx) => {
    const fresh = (await recordLogin(tx, user.id, user.password_hash!, newHash))!;
    const session = await createSession(tx, issuerOf(ctx), fresh, metaOf(request));
    await recordAudit(tx, request?.audit ?? null, { actor_id: user.id, action: 'auth.login', entity_type: 'user', entity_id: user.id, changes: { session_id: session.sessionId, method: 'password', rehashed: newHash !== null } });
    return session;
  });
}

/** Rotates a refresh token; reuse after the grace interval revokes the family and is audited. */
export async function refresh(ctx: AuthContext, refreshToken: string): Promise<IssuedSession> {
  const { app, request } = ctx;
  await limit(ctx, [{ bucket: 'refresh:ip', subject: ipOf(ctx), limit: limits(ctx).refreshPerIp }]);
  const result = await rotateRefreshToken(app.db, issuerOf(ctx), refreshToken, {
    graceS: app.config.auth.refreshReuseGraceS,
    meta: metaOf(request),
    onReuse: (tx, { userId, sessionId }) =>
      recordAudit(tx, request?.audit ?? null, { actor_id: userId, action: 'auth.refresh_reuse', entity_type: 'session', entity_id: sessionId, changes: { revoked: true } }),
  });
  if (result.outcome === 'reused') {
    request?.log.warn({ session_id: result.sessionId, user_id: result.userId }, 'refresh token reused; session revoked');
    throw new AppError('refresh_token_reused');
  }
  if (result.outcome === 'invalid') throw new AppError('invalid_refresh_token');
  return result.session;
}

export type LogoutScope = 'local' | 'global' | 'others';

/** local: this session; global: every session of the user; others: all but this one. */
export async function logout(ctx: AuthContext, userId: string, sessionId: string, scope: LogoutScope = 'local'): Promise<void> {
  const { app, request } = ctx;
  await app.db.transaction(async (tx) => {
    const revoked =
      scope === 'local' ? Number(await revokeSession(tx, userId, sessionId, 'logout')) : await revokeUserSessions(tx, userId, `logout_${scope}`, scope === 'others' ? sessionId : undefined);
    // No session row ended: the caller's token is a Supabase cut-over token (or its session
    // ended a moment ago). A cut-over token can only be ended together with the user's other
    // cut-over tokens; offbase sessions live on.
    if (scope === 'local' && revoked === 0) await revokeSessionlessTokens(tx, userId);
    await recordAudit(tx, request?.audit ?? null, { actor_id: userId, action: 'auth.logout', entity_type: 'session', entity_id: sessionId, changes: { scope, revoked } });
  });
}

/**
 * Reads the primary: a user who just registered must find themselves even with a lagging
 * replica. The signed-in user's own read carries the request's pending session check, if any.
 */
export async function getUser(ctx: AuthContext, userId: string): Promise<User> {
  const actor = ctx.request?.actor;
  const user = await findUserById(ctx.app.db, userId, actor?.id === userId ? actor : undefined);
  if (!user) throw new AppError('not_found', { message: 'User not found.' });
  return user;
}

export interface ProfilePatch {
  full_name?: string | null;
  preferences?: Record<string, unknown>;
  /** A new metadata object, or a function of the current one (applied under the row lock, so merges do not race). */
  metadata?: Record<string, unknown> | ((current: Record<string, unknown>) => Record<string, unknown>);
}

export async function updateProfile(ctx: AuthContext, userId: string, patch: ProfilePatch): Promise<User> {
  const { app, request } = ctx;
  return app.db.transaction(async (tx) => {
    const before = await lockUser(tx, userId);
    if (!before) throw new AppError('not_found', { message: 'User not found.' });
    const { metadata, ...rest } = patch;
    const values = { ...rest, ...(metadata === undefined ? {} : { metadata: typeof metadata === 'function' ? metadata(before.metadata) : metadata }) };
    const changes = diff(before, values);
    if (Object.keys(changes).length === 0) return before;
    const after = (await updateUser(tx, userId, values))!;
    await recordAudit(tx, request?.audit ?? null, { actor_id: userId, action: 'user.update', entity_type: 'user', entity_id: userId, changes });
    return after;
  });
}

/** Needs the current password; keeps the caller's session and revokes every other one. */
export async function changePassword(ctx: AuthContext, userId: string, sessionId: string, current: string, next: string): Promise<void> {
  const user = await confirmPassword(ctx, userId, current, 'auth.password_change_failed');
  await setPassword(ctx, user, sessionId, next);
}

/**
 * The signed-in user, once their current password is confirmed (a password change, an
 * account deletion). A wrong one is 401 invalid_credentials, audited as `failedAction`, and
 * counts against the login limits: guessing it with a stolen access token is a login attempt.
 */
export async function confirmPassword(ctx: AuthContext, userId: string, password: string, failedAction: string): Promise<User> {
  const { app, request } = ctx;
  const params = app.config.auth.argon2;
  const user = await findUserById(app.db, userId);
  if (!user) throw new AppError('unauthorized');
  await limit(ctx, [
    { bucket: 'login:ip', subject: ipOf(ctx), limit: limits(ctx).loginPerIp },
    { bucket: 'login:email', subject: user.email, limit: limits(ctx).loginPerEmail },
  ]);
  let ok = false;
  if (user.password_hash) ok = (await verifyPassword(user.password_hash, password, params)).ok;
  else await verifyDummy(password, params); // no password yet (imported): same cost, same answer
  if (!ok) {
    await recordAudit(app.db, request?.audit ?? null, { actor_id: userId, action: failedAction, entity_type: 'user', entity_id: userId, changes: { reason: 'wrong_password' } });
    throw new AppError('invalid_credentials', { message: 'The current password is incorrect.' });
  }
  return user;
}

/** Where a security notice leaves from: the app's mailer, the request's logger. */
export const noticeSender = (ctx: AuthContext): NoticeSender => ({ mailer: ctx.app.mailer, log: ctx.request?.log ?? ctx.app.log });

/**
 * Sets a new password for a signed-in user whose identity is already established (the
 * current password checked, or, on the GoTrue surface, the session itself as GoTrue does);
 * keeps the caller's session and revokes every other one.
 */
export async function setPassword(ctx: AuthContext, user: User, sessionId: string, next: string): Promise<void> {
  const { app, request } = ctx;
  const userId = user.id;
  assertStrong(next, user.email);
  const password_hash = await hashPassword(next, app.config.auth.argon2);
  await app.db.transaction(async (tx) => {
    await updateUser(tx, userId, { password_hash });
    await retireOneTimeTokens(tx, userId);
    const revoked = await revokeUserSessions(tx, userId, 'password_change', sessionId);
    await recordAudit(tx, request?.audit ?? null, { actor_id: userId, action: 'auth.password_change', entity_type: 'user', entity_id: userId, changes: { sessions_revoked: revoked } });
  });
  notifyPasswordChanged(noticeSender(ctx), user.email);
}

/** Always succeeds from the caller's point of view: whether the email exists is not revealed. */
export async function requestPasswordReset(ctx: AuthContext, rawEmail: string): Promise<void> {
  const { app, request } = ctx;
  const email = normalizeEmail(rawEmail);
  await limit(ctx, [
    { bucket: 'forgot:ip', subject: ipOf(ctx), limit: limits(ctx).forgotPerIp },
    { bucket: 'forgot:email', subject: email, limit: limits(ctx).forgotPerEmail },
  ]);
  const user = await findUserByEmail(app.db, email);
  if (!user || user.disabled_at) return;
  const token = await app.db.transaction(async (tx) => {
    const token = await issueOneTimeToken(tx, user.id, 'password_reset');
    await recordAudit(tx, request?.audit ?? null, { actor_id: null, action: 'auth.password_reset_request', entity_type: 'user', entity_id: user.id });
    return token;
  });
  sendLater(ctx, passwordResetMail(app.config.publicUrl, user.email, token));
}

/** Sets a new password from a mailed token; the token is single-use and every session ends. */
export async function resetPassword(ctx: AuthContext, token: string, next: string): Promise<void> {
  const { app, request } = ctx;
  await limit(ctx, [{ bucket: 'verify:ip', subject: ipOf(ctx), limit: limits(ctx).verifyPerIp }]);
  const userId = await peekOneTimeToken(app.db, token, 'password_reset');
  const user = userId ? await findUserById(app.db, userId) : undefined;
  if (!user || user.disabled_at) throw new InvalidLinkError('The reset link is invalid, used or expired.');
  // Checked before the token is used up, so a weak choice does not burn the link.
  assertStrong(next, user.email);
  const password_hash = await hashPassword(next, app.config.auth.argon2);
  await app.db.transaction(async (tx) => {
    const owner = await consumeOneTimeToken(tx, token, 'password_reset');
    if (owner !== user.id) throw new InvalidLinkError('The reset link is invalid, used or expired.');
    // Following the mailed link proves the address, so an unverified one becomes verified.
    await updateUser(tx, user.id, { password_hash, ...(user.email_verified_at ? {} : { email_verified_at: new Date().toISOString() }) });
    // Every other link mailed before the reset (other reset links, the sign-up verification link) dies with the old password.
    await retireOneTimeTokens(tx, user.id);
    const revoked = await revokeUserSessions(tx, user.id, 'password_reset');
    await recordAudit(tx, request?.audit ?? null, { actor_id: user.id, action: 'auth.password_reset', entity_type: 'user', entity_id: user.id, changes: { sessions_revoked: revoked } });
  });
  notifyPasswordReset(noticeSender(ctx), user.email);
}

export async function verifyEmail(ctx: AuthContext, token: string): Promise<void> {
  const { app, request } = ctx;
  await limit(ctx, [{ bucket: 'verify:ip', subject: ipOf(ctx), limit: limits(ctx).verifyPerIp }]);
  await app.db.transaction(async (tx) => {
    const userId = await consumeOneTimeToken(tx, token, 'email_verification');
    const user = userId ? await lockUser(tx, userId) : undefined;
    if (!user || user.disabled_at) throw new InvalidLinkError('The verification link is invalid, used or expired.');
    if (!user.email_verified_at) await updateUser(tx, user.id, { email_verified_at: new Date().toISOString() });
    await recordAudit(tx, request?.audit ?? null, { actor_id: user.id, action: 'auth.email_verify', entity_type: 'user', entity_id: user.id, changes: { email: user.email } });
  });
}

/** Mails a new verification link unless the address is already verified. */
export async function resendVerification(ctx: AuthContext, userId: string): Promise<void> {
  const { app } = ctx;
  const user = await findUserById(app.db, userId);
  if (!user) throw new AppError('unauthorized');
  await limit(ctx, [
    { bucket: 'verify:ip', subject: ipOf(ctx), limit: limits(ctx).verifyPerIp },
    // A mail to this address: shares the per-address budget of reset mails.
    { bucket: 'forgot:email', subject: user.email, limit: limits(ctx).forgotPerEmail },
  ]);
  if (user.email_verified_at) return;
  const token = await issueOneTimeToken(app.db, user.id, 'email_verification');
  sendLater(ctx, verificationMail(app.config.publicUrl, user.email, token));
}

/**
 * Exchanges a mailed link's token for a session (GoTrue's POST /verify): the token is used
 * up, the address counts as verified (the mail reached it), and a new session starts, from
 * which the user may then set a new password (recovery). One transaction: a failure leaves
 * the token usable. A verification link signs in only while it verifies something: for an
 * address already verified it is refused, since confirming an address is no way into an
 * account whose owner has moved on (a reset, another link).
 */
export async function signInWithLink(ctx: AuthContext, token: string, kind: OneTimeTokenKind): Promise<IssuedSession> {
  const { app, request } = ctx;
  await limit(ctx, [{ bucket: 'verify:ip', subject: ipOf(ctx), limit: limits(ctx).verifyPerIp }]);
  return app.db.transaction(async (tx) => {
    const userId = await consumeOneTimeToken(tx, token, kind);
    const user = userId ? await lockUser(tx, userId) : undefined;
    if (!user || user.disabled_at) throw new InvalidLinkError();
    if (kind === 'email_verification' && user.email_verified_at) throw new InvalidLinkError();
    const fresh = user.email_verified_at ? user : (await updateUser(tx, user.id, { email_verified_at: new Date().toISOString() }))!;
    const session = await createSession(tx, issuerOf(ctx), fresh, metaOf(request), passwordAssurance('otp'));
    await recordAudit(tx, request?.audit ?? null, { actor_id: user.id, action: 'auth.login', entity_type: 'user', entity_id: user.id, changes: { session_id: session.sessionId, method: kind } });
    return session;
  });
}
