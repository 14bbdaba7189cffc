import { Readable } from 'node:stream';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';
import {
  Accepted,
  AccountExport,
  ChangePasswordBody,
  DeleteAccountBody,
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
import * as account from './account.js';
import * as auth from './service.js';
import { noStore } from '../../plugins/no-store.js';
import { normalizeBodyEmail } from '../../plugins/normalize-email.js';
import { BODY_ERRORS, errorResponses } from '../../errors/responses.js';

const tags = ['auth'];
const security = [{ bearer: [] }];
const errors = errorResponses('forbidden', 'not_found', 'conflict');
const bodyErrors = errorResponses('forbidden', 'not_found', 'conflict', ...BODY_ERRORS);

// /api/v1/auth: parse, call the auth service, shape the reply.
const routes: FastifyPluginAsyncTypebox = async (app) => {
  const ctx = (request: FastifyRequest): auth.AuthContext => ({ app, request: request.ctx });

  app.addHook('preValidation', normalizeBodyEmail);
  app.addHook('onSend', noStore);

  app.post('/register', { schema: { summary: 'Create an account (and a session, unless email verification is required)', tags, body: RegisterBody, response: { 201: Type.Union([SessionView, PendingVerificationView]), ...bodyErrors } } }, async (request, reply) => {
    const { user, session } = await auth.register(ctx(request), request.body);
    if (!session) return reply.code(201).send({ user: toUserView(user), email_verification_required: true as const });
    return reply.code(201).send(toSessionView(session));
  });

  app.post('/login', { schema: { summary: 'Sign in with email and password', tags, body: LoginBody, response: { 200: SessionView, ...bodyErrors } } }, async (request) =>
    toSessionView(await auth.login(ctx(request), request.body)),
  );

  app.post('/refresh', { schema: { summary: 'Exchange a refresh token for a new access and refresh token', tags, body: RefreshBody, response: { 200: SessionView, ...bodyErrors } } }, async (request) =>
    toSessionView(await auth.refresh(ctx(request), request.body.refresh_token)),
  );

  app.post('/password/forgot', { schema: { summary: 'Email a password reset link (same answer whether the account exists or not)', tags, body: ForgotBody, response: { 202: Accepted, ...bodyErrors } } }, async (request, reply) => {
    await auth.requestPasswordReset(ctx(request), request.body.email);
    return reply.code(202).send({ message: 'If an account exists for this email, a password reset link has been sent.' });
  });

  app.post('/password/reset', { schema: { summary: 'Set a new password with a reset token', tags, body: ResetBody, response: { 204: { type: 'null' }, ...bodyErrors } } }, async (request, reply) => {
    await auth.resetPassword(ctx(request), request.body.token, request.body.new_password);
    return reply.code(204).send();
  });

  app.post('/email/verify', { schema: { summary: 'Verify an email address with its token', tags, body: VerifyBody, response: { 204: { type: 'null' }, ...bodyErrors } } }, async (request, reply) => {
    await auth.verifyEmail(ctx(request), request.body.token);
    return reply.code(204).send();
  });

  // The signed-in routes: one route tree, one hook.
  const signedInRoutes: FastifyPluginAsyncTypebox = async (signedIn) => {
    signedIn.addHook('onRequest', app.authenticate);

    signedIn.post('/logout', { config: { allowAal1: true }, schema: { summary: 'Sign out this session, or all of them', tags, security, body: LogoutBody, response: { 204: { type: 'null' }, ...bodyErrors } } }, async (request, reply) => {
      await auth.logout(ctx(request), request.user.sub, request.user.sid, request.body?.scope ?? 'local');
      return reply.code(204).send();
    });

    // The user's read carries the session check (plugins/authenticate.ts): one round trip.
    signedIn.get('/me', { config: { carrySessionCheck: true }, schema: { summary: 'The signed-in user', tags, security, response: { 200: UserView, ...errors } } }, async (request) =>
      toUserView(await auth.getUser(ctx(request), request.user.sub)),
    );

    signedIn.patch('/me', { schema: { summary: "Update the signed-in user's profile", tags, security, body: ProfileBody, response: { 200: UserView, ...bodyErrors } } }, async (request) =>
      toUserView(await auth.updateProfile(ctx(request), request.user.sub, request.body)),
    );

    signedIn.delete(
      '/me',
      {
        schema: {
          summary: 'Delete the account',
          description:
            'Confirmed with the current password (and a code when MFA is on). Every session ends at once; documents and analyses are deleted; the address can register again. 401 invalid_credentials for a wrong password (counts against the login limits); 409 conflict for the last active admin.',
          tags,
          security,
          body: DeleteAccountBody,
          response: { 204: { type: 'null' }, ...bodyErrors },
        },
      },
      async (request, reply) => {
        await account.deleteAccount(ctx(request), request.user.sub, request.body);
        return reply.code(204).send();
      },
    );

    signedIn.get(
      '/me/export',
      {
        schema: {
          summary: 'Export the account',
          description: "Profile, documents (with text), analyses, sessions and the user's own audit rows as one JSON document, streamed from one consistent snapshot.",
          tags,
          security,
          response: { 200: AccountExport, ...errors },
        },
      },
      async (request, reply) => {
        const attachment = () => reply.type('application/json; charset=utf-8').header('content-disposition', 'attachment; filename="offbase-account-export.json"');
        // HEAD gets the headers only: Fastify would run the whole export in the background and
        // discard it, holding the user's one export slot (and a connection) meanwhile.
        if (request.method === 'HEAD') return attachment().send(undefined as never);
        const chunks = await account.exportAccount(ctx(request), request.user.sub);
        return attachment()
          // Opening the snapshot and reading the profile kept REQUEST_TIMEOUT_MS; the download
          // itself takes as long as the account is large, up to EXPORT_TIMEOUT_MS.
          .streamUntil(app.config.exportTimeoutMs)
          // A stream: Fastify pipes it and skips the serializer (the 200 schema documents the shape).
          .send(Readable.from(chunks, { objectMode: false }) as never);
      },
    );

    signedIn.post('/password/change', { schema: { summary: 'Change the password (other sessions are signed out)', tags, security, body: ChangePasswordBody, response: { 204: { type: 'null' }, ...bodyErrors } } }, async (request, reply) => {
      await auth.changePassword(ctx(request), request.user.sub, request.user.sid, request.body.current_password, request.body.new_password);
      return reply.code(204).send();
    });

    signedIn.post('/email/verify/resend', { schema: { summary: 'Send the email verification link again', tags, security, response: { 202: Accepted, ...errors } } }, async (request, reply) => {
      await auth.resendVerification(ctx(request), request.user.sub);
      return reply.code(202).send({ message: 'If the address is not verified yet, a new verification link has been sent.' });
    });
  };
  await app.register(signedInRoutes);
};

export default routes;
