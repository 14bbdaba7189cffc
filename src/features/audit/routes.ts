import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { errorResponses } from '../../errors/responses.js';
import { AuditListResponse, AuditQuery } from './schemas.js';
import { listAudit } from './service.js';

const auditRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.addHook('onRequest', app.authenticate);
  app.get(
    '/audit-logs',
    { schema: { summary: 'Audit trail: your own actions (all of them for an admin)', tags: ['audit'], security: [{ bearer: [] }], querystring: AuditQuery, response: { 200: AuditListResponse, ...errorResponses() } } },
    async (request) => listAudit(request.ctx, request.query),
  );
};

export default auditRoutes;
