import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import {
  Accepted,
  ChangePasswordBody,
  ForgotBody,
  LoginBody,
  LogoutBody,
  PendingVerificationView,
  ProfileBody,
  RefreshBody,
  RegisterBody,
  ResetBody,
  SessionView,
  UserView,
  VerifyBody,
  toSessionView,
  toUserView,
} from './schemas.js';
import * as auth from './service.js';
import { dummyHash } from './passwords.js';
import { pruneAuthTables } from './sessions.js';
import { normalizeBodyEmail } from '../../lib/email.js';
import { noStore } from '../../lib/no-store.js';
import { errorResponses } from '../../errors/responses.js';

const PRUNE_EVERY_MS = 15 * 60_000;

const tags = ['auth'];
const security = [{ bearer: [] }];
const errors = errorResponses('forbidden', 'not_found', 'conflict');

// /api/v1/auth: parse, call the auth service, shape the reply.
const routes: FastifyPluginAsyncTypebox = async (app) => {
  const ctx = (request: Parameters<typeof auth.getUser>[0]['request']) => ({ app, request });

  app.addHook('preValidation', normalizeBodyEmail);
  app.addHook('onSend', noStore);
  // The first login should not pay for the dummy hash used for unknown emails.
  app.addHook('onReady', async () => void (await dummyHash(app.config.auth.argon2)));
  // Ended sessions and dead tokens are pruned by every task now and then (idempotent deletes).
  const prune = setInterval(() => {
    pruneAuthTables(app.db, app.config.auth.refreshTokenTtlS).catch((err: Error) => app.log.warn({ err: err.message }, 'auth prune failed'));
  }, PRUNE_EVERY_MS);
  prune.unref();
  app.addHook('onClose', async () => clearInterval(prune));

  app.post('/register', { schema: { tags, body: RegisterBody, response: { 201: Type.Union([SessionView, PendingVerificationView]), ...errors } } }, async (request, reply) => {
    const { user, session } = await auth.register(ctx(request), request.body);
    if (!session) return reply.code(201).send({ user: toUserView(user), email_verification_required: true as const });
    return reply.code(201).send(toSessionView(session));
  });

  app.post('/login', { schema: { tags, body: LoginBody, response: { 200: SessionView, ...errors } } }, async (request) =>
    toSessionView(await auth.login(ctx(request), request.body)),
  );

  app.post('/refresh', { schema: { tags, body: RefreshBody, response: { 200: SessionView, ...errors } } }, async (request) =>
    toSessionView(await auth.refresh(ctx(request), request.body.refresh_token)),
  );

  app.post('/logout', { schema: { tags, security, body: LogoutBody, response: { 204: { type: 'null' }, ...errors } }, preHandler: app.authenticate }, async (request, reply) => {
    await auth.logout(ctx(request), request.user.sub, request.user.sid, request.body?.scope ?? 'local');
    return reply.code(204).send();
  });

  app.get('/me', { schema: { tags, security, response: { 200: UserView, ...errors } }, preHandler: app.authenticate }, async (request) =>
    toUserView(await auth.getUser(ctx(request), request.user.sub)),
  );

  app.patch('/me', { schema: { tags, security, body: ProfileBody, response: { 200: UserView, ...errors } }, preHandler: app.authenticate }, async (request) =>
    toUserView(await auth.updateProfile(ctx(request), request.user.sub, request.body)),
  );

  app.post('/password/change', { schema: { tags, security, body: ChangePasswordBody, response: { 204: { type: 'null' }, ...errors } }, preHandler: app.authenticate }, async (request, reply) => {
    await auth.changePassword(ctx(request), request.user.sub, request.user.sid, request.body.current_password, request.body.new_password);
    return reply.code(204).send();
  });

  app.post('/password/forgot', { schema: { tags, body: ForgotBody, response: { 202: Accepted, ...errors } } }, async (request, reply) => {
    await auth.requestPasswordReset(ctx(request), request.body.email);
    return reply.code(202).send({ message: 'If an account exists for this email, a password reset link has been sent.' });
  });

  app.post('/password/reset', { schema: { tags, body: ResetBody, response: { 204: { type: 'null' }, ...errors } } }, async (request, reply) => {
    await auth.resetPassword(ctx(request), request.body.token, request.body.new_password);
    return reply.code(204).send();
  });

  app.post('/email/verify', { schema: { tags, body: VerifyBody, response: { 204: { type: 'null' }, ...errors } } }, async (request, reply) => {
    await auth.verifyEmail(ctx(request), request.body.token);
    return reply.code(204).send();
  });

  app.post('/email/verify/resend', { schema: { tags, security, response: { 202: Accepted, ...errors } }, preHandler: app.authenticate }, async (request, reply) => {
    await auth.resendVerification(ctx(request), request.user.sub);
    return reply.code(202).send({ message: 'If the address is not verified yet, a new verification link has been sent.' });
  });
};

export default routes;
