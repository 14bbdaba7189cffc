import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { AuditLog } from '../../db/schema/index.js';
import { errorResponses } from '../../errors/responses.js';
import { apiTimestamp } from '../../lib/timestamp.js';
import { keysetPage, type Filter } from '../../query/index.js';
import { auditTable, listAuditLogs, NEWEST_FIRST } from './queries.js';
import { AuditListResponse, AuditQuery } from './schemas.js';

const toAuditLog = (row: AuditLog) => ({ ...row, created_at: apiTimestamp(row.created_at) });

const auditRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/audit-logs',
    {
      onRequest: app.authenticate,
      schema: { tags: ['audit'], security: [{ bearer: [] }], querystring: AuditQuery, response: { 200: AuditListResponse, ...errorResponses() } },
    },
    async (request) => {
      const { limit = 50, cursor, since, until, actor_id, ...exact } = request.query;
      const filters: Filter[] = [];
      // A user sees the trail of their own actions; an admin sees everyone's. An actor_id
      // filter from a non-admin can only narrow their own rows (another id yields nothing).
      if (request.user.role !== 'admin') filters.push({ column: 'actor_id', op: 'eq', value: request.user.sub });
      if (actor_id) filters.push({ column: 'actor_id', op: 'eq', value: actor_id });
      for (const [column, value] of Object.entries(exact)) if (value !== undefined) filters.push({ column, op: 'eq', value });
      if (since) filters.push({ column: 'created_at', op: 'gte', value: since });
      if (until) filters.push({ column: 'created_at', op: 'lt', value: until });
      const rows = await listAuditLogs(request.readDb, filters, limit, cursor);
      return keysetPage(auditTable, NEWEST_FIRST, rows, limit, toAuditLog);
    },
  );
};

export default auditRoutes;
