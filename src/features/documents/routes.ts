import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';
import { AppError } from '../../errors/app-error.js';
import { BODY_ERRORS, errorResponses } from '../../errors/responses.js';
import { fieldName, issueField } from '../../errors/validation.js';
import { IdParams } from '../../lib/http-schemas.js';
import { etagHeader, etagMatches, parseEtags } from './etag.js';
import {
  BATCH_MAX,
  BatchBody,
  BatchResponse,
  CountQuery,
  CountResponse,
  Document,
  DocumentCreate,
  DocumentPatch,
  DocumentWithContent,
  IfMatchHeaders,
  IfNoneMatchHeaders,
  ListQuery,
  ListResponse,
  MiB,
  SearchQuery,
  SearchResponse,
} from './schemas.js';
import * as service from './service.js';

const tags = ['documents'];
const security = [{ bearer: [] }];
// These reads carry the session check (plugins/authenticate.ts): one round trip per request.
const carry = { carrySessionCheck: true };
// The create's INSERT carries it (writes only for a session that may write): one statement.
const carryInCreate = { carrySessionCheckInCreate: true };

// A single document may carry 1 MiB of content_text, which cannot fit a 1 MiB JSON body;
// single-document writes get room for it, every other route keeps BODY_LIMIT_BYTES.
const documentBodyLimit = (configured: number) => Math.max(configured, 2 * MiB);

const MAX_ITEM_ERRORS = 100;

/**
 * The batch's documents, or a 400 naming every bad item (up to 100) by index. The route
 * attaches rather than throws its validation error; only then is each item checked again,
 * with the route's own Ajv (same coercion and formats), to report every bad one with its
 * index. A batch the route schema accepted is not validated twice.
 */
function batchItems(request: FastifyRequest): DocumentCreate[] {
  const body = request.body as { documents?: unknown } | null;
  const items = body?.documents;
  if (!Array.isArray(items) || items.length === 0 || items.length > BATCH_MAX || Object.keys(body as object).some((k) => k !== 'documents')) {
    throw new AppError('validation_failed', {
      message: `The body must be {"documents": [...]} with 1 to ${BATCH_MAX} documents.`,
      details: [{ field: 'body.documents', message: `must be an array of 1 to ${BATCH_MAX} documents` }],
    });
  }
  const checkItem = request.validationError ? request.compileValidationSchema(DocumentCreate) : undefined;
  const details: { index: number; field: string; message: string }[] = [];
  items.forEach((item: unknown, index) => {
    if (details.length >= MAX_ITEM_ERRORS) return;
    if (checkItem && !checkItem(item)) {
      const [e] = checkItem.errors ?? [];
      details.push({ index, field: fieldName(e) || 'item', message: issueField(e).message });
      return;
    }
    const problem = service.checkContentBytes((item as DocumentCreate).content_text);
    if (problem) details.push({ index, field: 'content_text', message: problem });
  });
  if (details.length) throw new AppError('validation_failed', { message: 'Some documents are invalid; nothing was written.', details });
  if (request.validationError) throw request.validationError;
  return items as DocumentCreate[];
}

const documentsRoutes: FastifyPluginAsyncTypebox = async (app) => {
  // Every route here needs a user. onRequest, not preHandler: a caller without a valid token
  // gets 401 before any body is parsed or validated (the batch route would otherwise read
  // 16 MiB for nothing).
  app.addHook('onRequest', app.authenticate);
  const singleLimit = documentBodyLimit(app.config.bodyLimit);

  app.post(
    '/documents',
    { config: carryInCreate, bodyLimit: singleLimit, schema: { summary: 'Create a document', tags, security, body: DocumentCreate, response: { 201: Document, ...errorResponses('conflict', ...BODY_ERRORS) } } },
    async (request, reply) => {
      const row = await service.createDocument(request.ctx, request.body);
      return reply.code(201).header('etag', etagHeader(row.etag)).header('location', `/api/v1/documents/${row.id}`).send(service.toDocument(row));
    },
  );

  app.post(
    '/documents/batch',
    {
      bodyLimit: 16 * MiB,
      // Validation errors are rebuilt below with the failing item's index for every item.
      attachValidation: true,
      schema: { summary: 'Create up to 1000 documents, all or nothing', tags, security, body: BatchBody, response: { 201: BatchResponse, ...errorResponses('conflict', ...BODY_ERRORS) } },
    },
    async (request, reply) => {
      const rows = await service.createDocuments(request.ctx, batchItems(request));
      return reply.code(201).send({ data: rows.map(service.toDocument) });
    },
  );

  app.put(
    '/documents',
    { bodyLimit: singleLimit, schema: { summary: 'Create or update a document by (s3_bucket, s3_key)', tags, security, body: DocumentCreate, response: { 200: Document, 201: Document, ...errorResponses(...BODY_ERRORS) } } },
    async (request, reply) => {
      const { row, inserted } = await service.upsertDocument(request.ctx, request.body);
      return reply.code(inserted ? 201 : 200).header('etag', etagHeader(row.etag)).send(service.toDocument(row));
    },
  );

  app.get(
    '/documents',
    { config: carry, schema: { summary: 'List documents (filters, sort, keyset cursor, count)', tags, security, querystring: ListQuery, response: { 200: ListResponse, ...errorResponses('not_found') } } },
    async (request) => service.listDocuments(request.ctx, request.query),
  );

  app.get(
    '/documents/count',
    { schema: { summary: 'Count documents', tags, security, querystring: CountQuery, response: { 200: CountResponse, ...errorResponses() } } },
    async (request) => ({ count: await service.countDocuments(request.ctx, request.query) }),
  );

  app.get(
    '/documents/search',
    { config: carry, schema: { summary: 'Full-text search of documents', tags, security, querystring: SearchQuery, response: { 200: SearchResponse, ...errorResponses() } } },
    async (request) => {
      return { data: await service.searchDocuments(request.ctx, request.query) };
    },
  );

  app.get(
    '/documents/:id',
    {
      config: carry,
      schema: { summary: 'Get a document (content_text included; ETag, If-None-Match)', tags, security, params: IdParams, headers: IfNoneMatchHeaders, response: { 200: DocumentWithContent, 304: Type.Null(), ...errorResponses('not_found') } },
    },
    async (request, reply) => {
      const row = await service.getDocument(request.ctx, request.params.id);
      reply.header('etag', etagHeader(row.etag));
      if (etagMatches(request.headers['if-none-match'], row.etag)) return reply.code(304).send(null);
      return service.toDocument(row);
    },
  );

  app.patch(
    '/documents/:id',
    {
      bodyLimit: singleLimit,
      schema: {
        summary: 'Change a document (If-Match)',
        tags,
        security,
        params: IdParams,
        headers: IfMatchHeaders,
        body: DocumentPatch,
        response: { 200: Document, ...errorResponses('not_found', 'conflict', 'precondition_failed', ...BODY_ERRORS) },
      },
    },
    async (request, reply) => {
      const etags = parseEtags(request.headers['if-match']);
      const row = await service.updateDocument(request.ctx, request.params.id, request.body, etags);
      return reply.header('etag', etagHeader(row.etag)).send(service.toDocument(row));
    },
  );

  app.delete(
    '/documents/:id',
    {
      schema: { summary: 'Delete a document (If-Match)', tags, security, params: IdParams, headers: IfMatchHeaders, response: { 204: Type.Null(), ...errorResponses('not_found', 'precondition_failed') } },
    },
    async (request, reply) => {
      await service.deleteDocument(request.ctx, request.params.id, parseEtags(request.headers['if-match']));
      return reply.code(204).send(null);
    },
  );
};

export default documentsRoutes;
