import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import { errorResponses } from '../../errors/responses.js';
import { encodeCursor } from '../../query/index.js';
import { NEWEST_FIRST, userTable } from './queries.js';
import { AdminPatchBody, AdminUserView, ListQuery, UserList, UserParams, toAdminUserView } from './schemas.js';
import * as admin from './service.js';

const tags = ['admin'];
const security = [{ bearer: [] }];
const errors = errorResponses('forbidden', 'not_found', 'conflict');

// /api/v1/admin: user management for role=admin.
const routes: FastifyPluginAsyncTypebox = async (app) => {
  app.addHook('onRequest', app.requireAdmin);
  const ctx = (request: FastifyRequest): admin.AdminContext => ({ request: request.ctx, mailer: app.mailer });

  app.get('/users', { schema: { tags, security, querystring: ListQuery, response: { 200: UserList, ...errors } } }, async (request) => {
    const { users, next } = await admin.list(ctx(request), request.query);
    return { data: users.map(toAdminUserView), next_cursor: next && encodeCursor(userTable, NEWEST_FIRST, next) };
  });

  app.get('/users/:id', { schema: { tags, security, params: UserParams, response: { 200: AdminUserView, ...errors } } }, async (request) =>
    toAdminUserView(await admin.get(ctx(request), request.params.id)),
  );

  app.patch('/users/:id', { schema: { tags, security, params: UserParams, body: AdminPatchBody, response: { 200: AdminUserView, ...errors } } }, async (request) =>
    toAdminUserView(await admin.update(ctx(request), request.params.id, request.body)),
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

export default routes;
