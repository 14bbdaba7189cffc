import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';
import { BODY_ERRORS, errorResponses } from '../../errors/responses.js';
import { encodeCursor } from '../../query/index.js';
import { NEWEST_FIRST, userTable } from './queries.js';
import { AdminPatchBody, AdminUserView, ListQuery, UserList, UserParams, toAdminUserView } from './schemas.js';
import * as admin from './service.js';
import { adminRemoveFactors } from '../auth/mfa/service.js';
import { RevokedView } from '../auth/mfa/schemas.js';

const tags = ['admin'];
const security = [{ bearer: [] }];
const errors = errorResponses('forbidden', 'not_found', 'conflict');

// /api/v1/admin: user management for role=admin.
const routes: FastifyPluginAsyncTypebox = async (app) => {
  app.addHook('onRequest', app.requireAdmin);
  const ctx = (request: FastifyRequest): admin.AdminContext => ({ request: request.ctx, mailer: app.mailer });

  app.get('/users', { schema: { summary: 'List users (admin)', tags, security, querystring: ListQuery, response: { 200: UserList, ...errors } } }, async (request) => {
    const { users, next } = await admin.list(ctx(request), request.query);
    return { data: users.map(toAdminUserView), next_cursor: next && encodeCursor(userTable, NEWEST_FIRST, next) };
  });

  app.get('/users/:id', { schema: { summary: 'One user (admin)', tags, security, params: UserParams, response: { 200: AdminUserView, ...errors } } }, async (request) =>
    toAdminUserView(await admin.get(ctx(request), request.params.id)),
  );

  app.patch('/users/:id', { schema: { summary: "Change a user's role, or disable or enable them (admin)", tags, security, params: UserParams, body: AdminPatchBody, response: { 200: AdminUserView, ...errorResponses('forbidden', 'not_found', 'conflict', ...BODY_ERRORS) } } }, async (request) =>
    toAdminUserView(await admin.update(ctx(request), request.params.id, request.body)),
  );

  app.delete(
    '/users/:id/mfa-factors',
    { schema: { tags, security, summary: "Remove every MFA factor of a user (audited); they sign in with the password alone again", params: UserParams, response: { 200: RemovedView, ...errors } } },
    async (request) => ({ removed: await adminRemoveFactors({ app, request: request.ctx }, request.user.sub, request.params.id) }),
  );

  app.delete(
    '/users/:id',
    {
      schema: {
        summary: "Delete a user's account",
        description:
          'As DELETE /api/v1/auth/me: documents and analyses deleted, every session ended, a tombstone kept for the audit trail, the address free again; the user is mailed a notice. 409 conflict for the last active admin.',
        tags,
        security,
        params: UserParams,
        response: { 204: { type: 'null' }, ...errors },
      },
    },
    async (request, reply) => {
      await admin.remove(ctx(request), request.params.id);
      return reply.code(204).send();
    },
  );
};

const RemovedView = Type.Object({ removed: RevokedView.properties.revoked });

export default routes;
