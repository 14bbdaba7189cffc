import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import * as auth from '../../auth/service.js';
import { noStore } from '../../../plugins/no-store.js';
import { normalizeBodyEmail } from '../../../plugins/normalize-email.js';
import { apiKeyGuard, compatErrorHandler } from '../../../plugins/compat-guard.js';
import { userBearer } from '../apikey.js';
import { badJwt, GoTrueError, noAuthorization, sessionNotFound, toGoTrueError, validationFailed } from './errors.js';
import {
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
  async function currentUser(request: FastifyRequest, reply: FastifyReply): Promise<{ sub: string; sid: string }> {
    const token = userBearer(anonKey, request);
    if (!token) {
      // The anon key as Bearer is GoTrue's "anon JWT": valid, but nobody.
      if (request.headers.authorization) throw badJwt('invalid claim: missing sub claim');
      throw noAuthorization();
    }
    try {
      // The same check as /api/v1 (including Supabase-issued tokens during a cut-over).
      await app.authenticate(request, reply);
    } catch {
      if (!app.signedByUs(token) && !(await app.tokenVerifiers.recognizes(token))) throw badJwt();
      // Signature and expiry are fine, so the session was revoked (sign-out, reuse, disable;
      // for a Supabase cut-over token, any of the events that end all of the user's sessions).
      throw sessionNotFound();
    }
    return { sub: request.user.sub, sid: request.user.sid };
  }

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
        return toGoTrueSession(await auth.login(ctx(request), { email: body.email, password: body.password }));
      case 'refresh_token':
        if (!body.refresh_token) throw new GoTrueError(400, 'refresh_token_not_found', 'Invalid Refresh Token: Refresh Token Not Found');
        return toGoTrueSession(await auth.refresh(ctx(request), body.refresh_token));
      default:
        throw validationFailed('unsupported_grant_type');
    }
  });

  app.post('/logout', { schema: { summary: 'Sign out: scope global, local or others (signOut)', tags, security: userSecurity, querystring: LogoutQuery, response: { 204: { type: 'null' }, ...errors } } }, async (request, reply) => {
    const { sub, sid } = await currentUser(request, reply);
    await auth.logout(ctx(request), sub, sid, request.query.scope ?? 'global');
    return reply.code(204).send();
  });

  app.get('/user', { schema: { summary: 'The signed-in user (getUser)', tags, security: userSecurity, response: { 200: UserView, ...errors } } }, async (request, reply) => {
    const { sub } = await currentUser(request, reply);
    return toGoTrueUser(await auth.getUser(ctx(request), sub));
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
