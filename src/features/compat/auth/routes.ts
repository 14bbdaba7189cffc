import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import * as auth from '../../auth/service.js';
import * as mfa from '../../auth/mfa/service.js';
import type { IssuedSession } from '../../auth/sessions.js';
import { AppError } from '../../../errors/app-error.js';
import { noStore } from '../../../plugins/no-store.js';
import { normalizeBodyEmail } from '../../../plugins/normalize-email.js';
import { apiKeyGuard, compatErrorHandler } from '../../../plugins/compat-guard.js';
import { userBearer } from '../apikey.js';
import { badJwt, GoTrueError, noAuthorization, sessionNotFound, toGoTrueError, validationFailed } from './errors.js';
import {
  ChallengeBody,
  ChallengeView,
  EnrollBody,
  EnrollView,
  FactorParams,
  MfaVerifyBody,
  UnenrollView,
  Empty,
  goTrueErrorResponses,
  HealthView,
  LogoutQuery,
  RecoverBody,
  SessionView,
  SettingsView,
  SignupBody,
  TokenBody,
  TokenQuery,
  UpdateUserBody,
  UserView,
  VerifyBody,
} from './schemas.js';
import { goTrueClaims, toGoTrueSession, toGoTrueUser } from './shapes.js';

const tags = ['supabase-auth'];
const errors = goTrueErrorResponses;
// Every route needs the anon key (`apikey` header or query parameter); the user's routes a Bearer token too.
const security = [{ apikey: [] }];
const userSecurity = [{ apikey: [], bearer: [] }];

// /auth/v1: GoTrue's routes and shapes over offbase's auth service (the same functions
// /api/v1/auth calls: same users, sessions, rotation, reuse detection, limits and audit).
const routes: FastifyPluginAsyncTypebox = async (app) => {
  const anonKey = app.config.auth.anonKey;
  // Tokens issued here carry GoTrue's claims on top of offbase's own.
  const ctx = (request: FastifyRequest): auth.AuthContext => ({ app, request: request.ctx, claims: (user, sid) => goTrueClaims(user, sid) });

  app.addHook('onRequest', apiKeyGuard(anonKey, (status, message) => new GoTrueError(status, 'no_api_key', message)));
  app.addHook('onSend', noStore);
  app.setErrorHandler(compatErrorHandler(toGoTrueError));
  app.setNotFoundHandler((_request, reply) => reply.code(404).send(new GoTrueError(404, 'not_found', 'Not found').toJSON()));
  app.addHook('preValidation', normalizeBodyEmail);

  /** The signed-in user behind the Bearer token, with GoTrue's errors for a missing, bad or ended session. */
  async function currentUser(request: FastifyRequest, reply: FastifyReply): Promise<{ sub: string; sid: string; aal: string | undefined }> {
    const token = userBearer(anonKey, request);
    if (!token) {
      // The anon key as Bearer is GoTrue's "anon JWT": valid, but nobody.
      if (request.headers.authorization) throw badJwt('invalid claim: missing sub claim');
      throw noAuthorization();
    }
    try {
      // The same check as /api/v1 (including Supabase-issued tokens during a cut-over).
      await app.authenticate(request, reply);
    } catch (err) {
      // A live aal1 session where this route needs aal2: GoTrue's insufficient_aal.
      if (err instanceof AppError && err.code === 'mfa_required') throw err;
      if (!app.signedByUs(token) && !(await app.tokenVerifiers.recognizes(token))) throw badJwt();
      // Signature and expiry are fine, so the session was revoked (sign-out, reuse, disable;
      // for a Supabase cut-over token, any of the events that end all of the user's sessions).
      throw sessionNotFound();
    }
    return { sub: request.user.sub, sid: request.user.sid, aal: request.user.aal };
  }

  /** GoTrue's MFA error codes for the service's generic ones. */
  async function mfaCall<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof AppError && err.code === 'not_found') throw new GoTrueError(404, 'mfa_factor_not_found', 'Factor not found');
      if (err instanceof AppError && err.code === 'conflict') {
        const tooMany = err.details?.some((d) => d.reason === 'too_many_factors');
        throw tooMany
          ? new GoTrueError(422, 'too_many_enrolled_mfa_factors', 'Maximum number of enrolled factors reached, unenroll to continue')
          : new GoTrueError(422, 'mfa_factor_name_conflict', 'A factor with this friendly name already exists');
      }
      throw err;
    }
  }
  /** A session with user.factors, as GoTrue answers it: auth-js's getAuthenticatorAssuranceLevel reads them there. */
  const withFactors = async (request: FastifyRequest, session: IssuedSession) => toGoTrueSession(session, await mfa.factorsOf(ctx(request), session.user.id));

  // Routes an aal1 session of a user with a verified factor may call (GoTrue's: read the user, do MFA, sign out).
  const aal1 = { allowAal1: true };

  app.post('/signup', { schema: { summary: 'Sign up (supabase.auth.signUp)', tags, security, body: SignupBody, response: { 200: { anyOf: [SessionView, UserView] }, ...errors } } }, async (request) => {
    const { full_name, ...metadata } = request.body.data ?? {};
    const { user, session } = await auth.register(ctx(request), {
      email: request.body.email,
      password: request.body.password,
      full_name: typeof full_name === 'string' ? full_name.slice(0, 200) : null,
      metadata,
    });
    // With REQUIRE_EMAIL_VERIFICATION GoTrue answers the bare user, and no session, until confirmed.
    return session ? toGoTrueSession(session) : toGoTrueUser(user);
  });

  app.post('/token', { schema: { summary: 'Sign in or refresh: grant_type=password or refresh_token (signInWithPassword, refreshSession)', tags, security, querystring: TokenQuery, body: TokenBody, response: { 200: SessionView, ...errors } } }, async (request) => {
    const { body } = request;
    switch (request.query.grant_type) {
      case 'password':
        if (body.phone !== undefined) throw new GoTrueError(400, 'phone_provider_disabled', 'Phone logins are disabled');
        if (!body.email || !body.password) throw validationFailed('email and password are required');
        return withFactors(request, await auth.login(ctx(request), { email: body.email, password: body.password }));
      case 'refresh_token':
        if (!body.refresh_token) throw new GoTrueError(400, 'refresh_token_not_found', 'Invalid Refresh Token: Refresh Token Not Found');
        return withFactors(request, await auth.refresh(ctx(request), body.refresh_token));
      default:
        throw validationFailed('unsupported_grant_type');
    }
  });

  app.post('/logout', { config: aal1, schema: { summary: 'Sign out: scope global, local or others (signOut)', tags, security: userSecurity, querystring: LogoutQuery, response: { 204: { type: 'null' }, ...errors } } }, async (request, reply) => {
    const { sub, sid } = await currentUser(request, reply);
    await auth.logout(ctx(request), sub, sid, request.query.scope ?? 'global');
    return reply.code(204).send();
  });

  // The user's read carries the session check (plugins/authenticate.ts): supabase-js calls
  // getUser on every page of a server-rendered app. A session that turns out to be ended
  // there is GoTrue's session_not_found, as when the check runs first (currentUser).
  app.get('/user', { config: { ...aal1, carrySessionCheck: true }, schema: { summary: 'The signed-in user (getUser)', tags, security: userSecurity, response: { 200: UserView, ...errors } } }, async (request, reply) => {
    const { sub } = await currentUser(request, reply);
    const user = await auth.getUser(ctx(request), sub).catch((err: unknown) => {
      throw err instanceof AppError && err.code === 'invalid_token' ? sessionNotFound() : err;
    });
    return toGoTrueUser(user, await mfa.factorsOf(ctx(request), sub));
  });

  // auth.mfa.*: the same MFA service as /api/v1/auth/mfa.
  app.post('/factors', { schema: { tags, security: userSecurity, summary: 'auth.mfa.enroll', body: EnrollBody, response: { 200: EnrollView, ...errors } } }, async (request, reply) => {
    const { sub } = await currentUser(request, reply);
    if (request.body.factor_type !== 'totp') throw validationFailed('factor_type needs to be totp');
    const friendlyName = request.body.friendly_name || null;
    const { factor, secret, uri, qrSvg } = await mfaCall(() => mfa.enrollTotp(ctx(request), sub, { friendlyName, issuer: request.body.issuer || null }));
    return { id: factor.id, type: 'totp' as const, friendly_name: factor.friendly_name ?? '', totp: { qr_code: qrSvg, secret, uri } };
  });

  app.post(
    '/factors/:id/challenge',
    { config: aal1, schema: { tags, security: userSecurity, summary: 'auth.mfa.challenge', params: FactorParams, body: ChallengeBody, response: { 200: ChallengeView, ...errors } } },
    async (request, reply) => {
      const { sub } = await currentUser(request, reply);
      const { id, expiresAt } = await mfaCall(() => mfa.challenge(ctx(request), sub, request.params.id));
      return { id, type: 'totp' as const, expires_at: expiresAt };
    },
  );

  app.post(
    '/factors/:id/verify',
    { config: aal1, schema: { tags, security: userSecurity, summary: 'auth.mfa.verify', params: FactorParams, body: MfaVerifyBody, response: { 200: SessionView, ...errors } } },
    async (request, reply) => {
      const { sub, sid } = await currentUser(request, reply);
      const { session } = await mfaCall(() => mfa.verify(ctx(request), sub, sid, request.params.id, request.body.challenge_id, request.body.code));
      return withFactors(request, session);
    },
  );

  app.delete('/factors/:id', { config: aal1, schema: { tags, security: userSecurity, summary: 'auth.mfa.unenroll', params: FactorParams, response: { 200: UnenrollView, ...errors } } }, async (request, reply) => {
    const { sub, aal } = await currentUser(request, reply);
    try {
      const removed = await mfaCall(() => mfa.unenroll(ctx(request), sub, aal, request.params.id));
      return { id: removed.id };
    } catch (err) {
      // GoTrue answers 422 here (403 elsewhere).
      if (err instanceof AppError && err.code === 'mfa_required') throw new GoTrueError(422, 'insufficient_aal', 'AAL2 required to unenroll verified factor');
      throw err;
    }
  });

  app.put('/user', { schema: { summary: "Update the signed-in user's data or password (updateUser)", tags, security: userSecurity, body: UpdateUserBody, response: { 200: UserView, ...errors } } }, async (request, reply) => {
    const { sub, sid } = await currentUser(request, reply);
    const { data, password, email, phone } = request.body;
    const current = await auth.getUser(ctx(request), sub);
    if (email !== undefined && email !== current.email) throw new GoTrueError(422, 'validation_failed', 'Changing the email address is not supported');
    if (phone !== undefined) throw new GoTrueError(422, 'phone_provider_disabled', 'Phone is not supported');
    if (password !== undefined) await auth.setPassword(ctx(request), current, sid, password);
    if (data !== undefined) {
      // GoTrue merges `data` into user_metadata; a null value removes the key. full_name has its own column.
      const { full_name, ...rest } = data;
      await auth.updateProfile(ctx(request), sub, {
        ...(full_name === undefined ? {} : { full_name: typeof full_name === 'string' ? full_name.slice(0, 200) : null }),
        metadata: (existing) => {
          // Spread defines own properties (never the __proto__ setter), so the client's keys
          // cannot reach a prototype; the value stays an ordinary object, as drizzle needs.
          const merged: Record<string, unknown> = { ...existing, ...rest };
          for (const [key, value] of Object.entries(rest)) if (value === null) delete merged[key];
          return merged;
        },
      });
    }
    return toGoTrueUser(await auth.getUser({ app, request: null }, sub));
  });

  app.post('/recover', { schema: { summary: 'Email a password reset link (resetPasswordForEmail)', tags, security, body: RecoverBody, response: { 200: Empty, ...errors } } }, async (request) => {
    await auth.requestPasswordReset(ctx(request), request.body.email);
    return {};
  });

  app.post('/verify', { schema: { summary: 'Use a mailed token_hash: recovery, signup or email (verifyOtp)', tags, security, body: VerifyBody, response: { 200: SessionView, ...errors } } }, async (request) => {
    const token = request.body.token_hash ?? request.body.token;
    if (!token) throw validationFailed('token_hash is required');
    const kind = request.body.type === 'recovery' ? 'password_reset' : request.body.type === 'signup' || request.body.type === 'email' ? 'email_verification' : null;
    if (!kind) throw validationFailed(`verify type ${request.body.type} is not supported`);
    return toGoTrueSession(await auth.signInWithLink(ctx(request), token, kind));
  });

  app.get('/settings', { schema: { summary: 'Which sign-in methods this server offers', tags, security, response: { 200: SettingsView, ...errors } } }, async () => ({
    external: { email: true, phone: false, anonymous_users: false },
    disable_signup: false,
    mailer_autoconfirm: !app.config.auth.requireEmailVerification,
    phone_autoconfirm: false,
    sms_provider: '',
    saml_enabled: false,
    anonymous_users: false,
  }));

  app.get('/health', { schema: { summary: 'GoTrue-style health check', tags, security, response: { 200: HealthView, ...errors } } }, async () => ({
    version: 'offbase',
    name: 'GoTrue',
    description: 'offbase serves the GoTrue API subset used by supabase-js',
  }));
};

export default routes;
