import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { AppError } from '../../errors/app-error.js';
import { errorResponses } from '../../errors/responses.js';
import { IdParams } from '../../lib/http-schemas.js';
import { keysetPage, parseSortKey, type Filter } from '../../query/index.js';
import { actorOf } from '../documents/service.js';
import * as q from './queries.js';
import { Analysis, AnalysisCreate, AnalysisPatch, ListQuery, ListResponse } from './schemas.js';
import * as service from './service.js';

const tags = ['analyses'];
const security = [{ bearer: [] }];

const analysesRoutes: FastifyPluginAsyncTypebox = async (app) => {
  // onRequest, not preHandler: a caller without a valid token gets 401 before any body is
  // parsed or validated (the batch route would otherwise read 16 MiB for nothing).
  const auth = { onRequest: app.authenticate };

  app.post(
    '/documents/:id/analyses',
    { ...auth, schema: { tags, security, params: IdParams, body: AnalysisCreate, response: { 201: Analysis, ...errorResponses('not_found', 'payload_too_large') } } },
    async (request, reply) => {
      const row = await service.createAnalysis(app.db, request, request.params.id, request.body);
      return reply.code(201).header('location', `/api/v1/analyses/${row.id}`).send(service.toAnalysis(row));
    },
  );

  app.get(
    '/documents/:id/analyses',
    { ...auth, schema: { tags, security, params: IdParams, querystring: ListQuery, response: { 200: ListResponse, ...errorResponses('not_found') } } },
    async (request) => {
      const { sort = '-created_at', limit = 50, cursor, status, kind } = request.query;
      const actor = actorOf(request);
      // 404 for a document the caller cannot see, rather than an empty list that confirms nothing.
      if (!(await q.visibleDocument(request.readDb, actor, request.params.id))) throw new AppError('not_found');
      const filters: Filter[] = [];
      if (status) filters.push({ column: 'status', op: 'eq', value: status });
      if (kind) filters.push({ column: 'kind', op: 'eq', value: kind });
      const terms = parseSortKey(q.analysisTable, sort);
      const rows = await q.listAnalyses(request.readDb, actor, request.params.id, filters, terms, limit, cursor);
      return keysetPage(q.analysisTable, terms, rows, limit, service.toAnalysis);
    },
  );

  app.get(
    '/analyses/:id',
    { ...auth, schema: { tags, security, params: IdParams, response: { 200: Analysis, ...errorResponses('not_found') } } },
    async (request) => {
      const row = await q.getAnalysis(request.readDb, actorOf(request), request.params.id);
      if (!row) throw new AppError('not_found');
      return service.toAnalysis(row);
    },
  );

  app.patch(
    '/analyses/:id',
    { ...auth, schema: { tags, security, params: IdParams, body: AnalysisPatch, response: { 200: Analysis, ...errorResponses('not_found', 'payload_too_large') } } },
    async (request) => service.toAnalysis(await service.updateAnalysis(app.db, request, request.params.id, request.body)),
  );

  app.delete(
    '/analyses/:id',
    { ...auth, schema: { tags, security, params: IdParams, response: { 204: Type.Null(), ...errorResponses('not_found') } } },
    async (request, reply) => {
      await service.deleteAnalysis(app.db, request, request.params.id);
      return reply.code(204).send(null);
    },
  );
};

export default analysesRoutes;
