import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { AppError } from '../../errors/app-error.js';
import { errorResponses } from '../../errors/responses.js';
import { IdParams } from '../../lib/http-schemas.js';
import { keysetPage, parseSortKey } from '../../query/index.js';
import { etagHeader, etagMatches, parseEtags } from './etag.js';
import * as q from './queries.js';
import {
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

// A single document may carry 1 MiB of content_text, which cannot fit a 1 MiB JSON body;
// single-document writes get room for it, every other route keeps BODY_LIMIT_BYTES.
const documentBodyLimit = (configured: number) => Math.max(configured, 2 * MiB);

const documentsRoutes: FastifyPluginAsyncTypebox = async (app) => {
  // onRequest, not preHandler: a caller without a valid token gets 401 before any body is
  // parsed or validated (the batch route would otherwise read 16 MiB for nothing).
  const auth = { onRequest: app.authenticate };
  const singleLimit = documentBodyLimit(app.config.bodyLimit);

  app.post(
    '/documents',
    { ...auth, bodyLimit: singleLimit, schema: { tags, security, body: DocumentCreate, response: { 201: Document, ...errorResponses('conflict', 'payload_too_large') } } },
    async (request, reply) => {
      const row = await service.createDocument(app.db, request, request.body);
      return reply.code(201).header('etag', etagHeader(row.etag)).header('location', `/api/v1/documents/${row.id}`).send(service.toDocument(row));
    },
  );

  app.post(
    '/documents/batch',
    {
      ...auth,
      bodyLimit: 16 * MiB,
      // Validation errors are rebuilt below with the failing item's index for every item.
      attachValidation: true,
      schema: { tags, security, body: BatchBody, response: { 201: BatchResponse, ...errorResponses('conflict', 'payload_too_large') } },
    },
    async (request, reply) => {
      const items = service.batchItems(request);
      const rows = await service.createDocuments(app.db, request, items);
      return reply.code(201).send({ data: rows.map(service.toDocument) });
    },
  );

  app.put(
    '/documents',
    { ...auth, bodyLimit: singleLimit, schema: { tags, security, body: DocumentCreate, response: { 200: Document, 201: Document, ...errorResponses('payload_too_large') } } },
    async (request, reply) => {
      const { row, inserted } = await service.upsertDocument(app.db, request, request.body);
      return reply.code(inserted ? 201 : 200).header('etag', etagHeader(row.etag)).send(service.toDocument(row));
    },
  );

  app.get(
    '/documents',
    { ...auth, schema: { tags, security, querystring: ListQuery, response: { 200: ListResponse, ...errorResponses('not_found') } } },
    async (request) => {
      const { sort = '-created_at', limit = 50, cursor, count, ...filters } = request.query;
      const actor = service.actorOf(request);
      const terms = parseSortKey(q.documentTable, sort);
      const rows = await q.listDocuments(request.readDb, actor, filters, terms, limit, cursor);
      const page = keysetPage(q.documentTable, terms, rows, limit, service.toDocument);
      return count === 'exact' ? { ...page, total: await q.countDocuments(request.readDb, actor, filters) } : page;
    },
  );

  app.get(
    '/documents/count',
    { ...auth, schema: { tags, security, querystring: CountQuery, response: { 200: CountResponse, ...errorResponses() } } },
    async (request) => ({ count: await q.countDocuments(request.readDb, service.actorOf(request), request.query) }),
  );

  app.get(
    '/documents/search',
    { ...auth, schema: { tags, security, querystring: SearchQuery, response: { 200: SearchResponse, ...errorResponses() } } },
    async (request) => {
      const { q: text, limit = 20, status, owner_id } = request.query;
      const rows = await q.searchDocuments(request.readDb, service.actorOf(request), text, limit, status, owner_id);
      return { data: rows.map((r) => ({ ...service.toDocument(r), snippet: highlight(r.snippet) })) };
    },
  );

  app.get(
    '/documents/:id',
    {
      ...auth,
      schema: { tags, security, params: IdParams, headers: IfNoneMatchHeaders, response: { 200: DocumentWithContent, 304: Type.Null(), ...errorResponses('not_found') } },
    },
    async (request, reply) => {
      const row = await q.getDocument(request.readDb, service.actorOf(request), request.params.id);
      if (!row) throw new AppError('not_found');
      reply.header('etag', etagHeader(row.etag));
      if (etagMatches(request.headers['if-none-match'], row.etag)) return reply.code(304).send(null);
      return service.toDocument(row);
    },
  );

  app.patch(
    '/documents/:id',
    {
      ...auth,
      bodyLimit: singleLimit,
      schema: {
        tags,
        security,
        params: IdParams,
        headers: IfMatchHeaders,
        body: DocumentPatch,
        response: { 200: Document, ...errorResponses('not_found', 'conflict', 'precondition_failed', 'payload_too_large') },
      },
    },
    async (request, reply) => {
      const etags = parseEtags(request.headers['if-match']);
      const row = await service.updateDocument(app.db, request, request.params.id, request.body, etags);
      return reply.header('etag', etagHeader(row.etag)).send(service.toDocument(row));
    },
  );

  app.delete(
    '/documents/:id',
    {
      ...auth,
      schema: { tags, security, params: IdParams, headers: IfMatchHeaders, response: { 204: Type.Null(), ...errorResponses('not_found', 'precondition_failed') } },
    },
    async (request, reply) => {
      await service.deleteDocument(app.db, request, request.params.id, parseEtags(request.headers['if-match']));
      return reply.code(204).send(null);
    },
  );
};

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
/** ts_headline's markers → <b></b>, after escaping the document's own text: the snippet is safe HTML. */
function highlight(snippet: string): string {
  return snippet
    .replace(/[&<>"']/g, (c) => ESCAPES[c]!)
    .replaceAll(q.MARK_START, '<b>')
    .replaceAll(q.MARK_END, '</b>');
}

export default documentsRoutes;
