import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { BODY_ERRORS, errorResponses } from '../../errors/responses.js';
import { IdParams } from '../../lib/http-schemas.js';
import { Analysis, AnalysisCreate, AnalysisPatch, ListQuery, ListResponse } from './schemas.js';
import * as service from './service.js';

const tags = ['analyses'];
const security = [{ bearer: [] }];

const analysesRoutes: FastifyPluginAsyncTypebox = async (app) => {
  // Every route here needs a user. onRequest, not preHandler: a caller without a valid token
  // gets 401 before any body is parsed or validated (the batch route would otherwise read
  // 16 MiB for nothing).
  app.addHook('onRequest', app.authenticate);

  app.post(
    '/documents/:id/analyses',
    { schema: { summary: 'Create an analysis of a document', tags, security, params: IdParams, body: AnalysisCreate, response: { 201: Analysis, ...errorResponses('not_found', ...BODY_ERRORS) } } },
    async (request, reply) => {
      const row = await service.createAnalysis(request.ctx, request.params.id, request.body);
      return reply.code(201).header('location', `/api/v1/analyses/${row.id}`).send(service.toAnalysis(row));
    },
  );

  app.get(
    '/documents/:id/analyses',
    { schema: { summary: "List a document's analyses", tags, security, params: IdParams, querystring: ListQuery, response: { 200: ListResponse, ...errorResponses('not_found') } } },
    async (request) => service.listAnalyses(request.ctx, request.params.id, request.query),
  );

  app.get(
    '/analyses/:id',
    { schema: { summary: 'Get an analysis', tags, security, params: IdParams, response: { 200: Analysis, ...errorResponses('not_found') } } },
    async (request) => service.toAnalysis(await service.getAnalysis(request.ctx, request.params.id)),
  );

  app.patch(
    '/analyses/:id',
    { schema: { summary: 'Change an analysis', tags, security, params: IdParams, body: AnalysisPatch, response: { 200: Analysis, ...errorResponses('not_found', ...BODY_ERRORS) } } },
    async (request) => service.toAnalysis(await service.updateAnalysis(request.ctx, request.params.id, request.body)),
  );

  app.delete(
    '/analyses/:id',
    { schema: { summary: 'Delete an analysis', tags, security, params: IdParams, response: { 204: Type.Null(), ...errorResponses('not_found') } } },
    async (request, reply) => {
      await service.deleteAnalysis(request.ctx, request.params.id);
      return reply.code(204).send(null);
    },
  );
};

export default analysesRoutes;
