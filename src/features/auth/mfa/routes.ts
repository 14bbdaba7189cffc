import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import { BODY_ERRORS, errorResponses } from '../../../errors/responses.js';
import { noStore } from '../../../plugins/no-store.js';
import { apiTimestamp } from '../../../lib/timestamp.js';
import { listSessions, revokeOtherSessions, revokeOwnSession } from '../my-sessions.js';
import { toSessionView } from '../schemas.js';
import type { AuthContext } from '../service.js';
import {
  ChallengeView,
  EnrollBody,
  EnrollView,
  FactorList,
  FactorParams,
  RecoveryBody,
  RecoveryCodesView,
  RevokedView,
  SessionList,
  VerifiedView,
  VerifyBody,
  toFactorView,
} from './schemas.js';
import * as mfa from './service.js';

const tags = ['auth'];
const security = [{ bearer: [] }];
const errors = errorResponses('forbidden', 'not_found', 'conflict', 'mfa_verification_failed');
const bodyErrors = errorResponses('forbidden', 'not_found', 'conflict', 'mfa_verification_failed', ...BODY_ERRORS);
// Routes an aal1 session of a user with a second factor may call: completing MFA, listing factors.
const aal1 = { allowAal1: true };

/**
 * /api/v1/auth/mfa/* and /api/v1/auth/sessions*. app.authenticate is the MFA gate: every route
 * here but those marked allowAal1 needs aal2 from a user with a verified factor.
 */
const routes: FastifyPluginAsyncTypebox = async (app) => {
  app.addHook('onRequest', app.authenticate);
  app.addHook('onSend', noStore);
  const ctx = (request: FastifyRequest): AuthContext => ({ app, request: request.ctx });

  app.post(
    '/mfa/totp',
    { schema: { tags, security, summary: 'Enrol a TOTP factor (inactive until a first code verifies it)', body: EnrollBody, response: { 201: EnrollView, ...bodyErrors } } },
    async (request, reply) => {
      const { factor, secret, uri, qrSvg } = await mfa.enrollTotp(ctx(request), request.user.sub, { friendlyName: request.body.friendly_name ?? null, issuer: request.body.issuer ?? null });
      return reply.code(201).send({ ...toFactorView(factor), secret, uri, qr_code: qrSvg });
    },
  );

  app.get(
    '/mfa/factors',
    { config: aal1, schema: { tags, security, summary: "List the signed-in user's factors", response: { 200: FactorList, ...errors } } },
    async (request) => ({
      data: (await mfa.factorsOf(ctx(request), request.user.sub)).map(toFactorView),
      recovery_codes_remaining: await mfa.unusedRecoveryCodes(ctx(request), request.user.sub),
    }),
  );

  app.post(
    '/mfa/factors/:id/challenge',
    { config: aal1, schema: { tags, security, summary: 'Start a challenge for a factor (valid 5 minutes)', params: FactorParams, response: { 201: ChallengeView, ...errors } } },
    async (request, reply) => {
      const { id, expiresAt } = await mfa.challenge(ctx(request), request.user.sub, request.params.id);
      return reply.code(201).send({ id, expires_at: expiresAt });
    },
  );

  app.post(
    '/mfa/factors/:id/verify',
    {
      config: aal1,
      schema: { tags, security, summary: 'Verify a challenge with a code: the session becomes aal2 (new tokens)', params: FactorParams, body: VerifyBody, response: { 200: VerifiedView, ...bodyErrors } },
    },
    async (request) => {
      const { session, recoveryCodes } = await mfa.verify(ctx(request), request.user.sub, request.user.sid, request.params.id, request.body.challenge_id, request.body.code);
      return { ...toSessionView(session), recovery_codes: recoveryCodes };
    },
  );

  app.delete(
    '/mfa/factors/:id',
    { schema: { tags, security, summary: 'Unenrol a factor (aal2 needed for a verified one)', params: FactorParams, response: { 204: { type: 'null' }, ...errors } } },
    async (request, reply) => {
      await mfa.unenroll(ctx(request), request.user.sub, request.user.aal, request.params.id);
      return reply.code(204).send();
    },
  );

  app.post(
    '/mfa/recovery',
    { config: aal1, schema: { tags, security, summary: 'Complete MFA with a recovery code (used up)', body: RecoveryBody, response: { 200: VerifiedView, ...bodyErrors } } },
    async (request) => ({ ...toSessionView(await mfa.verifyRecoveryCode(ctx(request), request.user.sub, request.user.sid, request.body.code)), recovery_codes: null }),
  );

  app.post(
    '/mfa/recovery-codes',
    { schema: { tags, security, summary: 'Replace the recovery codes with ten new ones (shown once)', response: { 200: RecoveryCodesView, ...errors } } },
    async (request) => ({ codes: await mfa.regenerateRecoveryCodes(ctx(request), request.user.sub) }),
  );

  app.get('/sessions', { schema: { tags, security, summary: "The signed-in user's live sessions", response: { 200: SessionList, ...errors } } }, async (request) => ({
    data: (await listSessions(ctx(request), request.user.sub, request.user.sid)).map((s) => ({
      ...s,
      created_at: apiTimestamp(s.created_at),
      last_used_at: apiTimestamp(s.last_used_at),
      expires_at: apiTimestamp(s.expires_at),
    })),
  }));

  app.delete(
    '/sessions/:id',
    { schema: { tags, security, summary: 'Sign one of your sessions out at once', params: FactorParams, response: { 204: { type: 'null' }, ...errors } } },
    async (request, reply) => {
      await revokeOwnSession(ctx(request), request.user.sub, request.params.id);
      return reply.code(204).send();
    },
  );

  app.post(
    '/sessions/revoke-others',
    { schema: { tags, security, summary: 'Sign out every session but this one', response: { 200: RevokedView, ...errors } } },
    async (request) => ({ revoked: await revokeOtherSessions(ctx(request), request.user.sub, request.user.sid) }),
  );
};

export default routes;
