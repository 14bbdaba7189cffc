import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type, type TSchema } from '@sinclair/typebox';
import { BODY_ERRORS, errorResponses } from '../errors/responses.js';
import { IdParams, Nullable, Uuid } from '../lib/http-schemas.js';
import type { Resource } from './define.js';
import * as service from './service.js';

// /api/v1/<name> for every registered resource that wants generated routes: create, get,
// patch, delete, and a list with equality filters, sorts, keyset cursor and count. Thin:
// parse (the schemas below) → one service call → reply.

const security = [{ bearer: [] }];
// The reads carry the session check (plugins/authenticate.ts): one round trip per request.
const carry = { carrySessionCheck: true };
const SCALAR = new Set(['uuid', 'text', 'integer', 'bigint', 'numeric', 'timestamptz', 'boolean']);

function schemasOf(resource: Resource) {
  const { spec, schemas, parent } = resource;
  const sortKeys = Object.entries(spec.columns)
    .filter(([, c]) => c.sortable)
    .flatMap(([name]) => [name, `-${name}`]);
  const filters: Record<string, TSchema> = {};
  for (const [name, column] of Object.entries(spec.columns)) {
    if (SCALAR.has(column.type) && column.filterable !== false) filters[name] = Type.Optional(Type.String({ maxLength: 1000, description: `${name} equals` }));
  }
  const list = Type.Object(
    {
      ...filters,
      ...(sortKeys.length ? { sort: Type.Optional(Type.Union(sortKeys.map((k) => Type.Literal(k)))) } : {}),
      limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
      cursor: Type.Optional(Type.String({ maxLength: 4096 })),
      count: Type.Optional(Type.Literal('exact')),
    },
    { additionalProperties: false },
  );
  // A child resource names its parent in the body; the parent must be visible to the caller.
  const create = parent ? Type.Object({ ...schemas.create.properties, [parent.key]: Uuid }, { additionalProperties: false }) : schemas.create;
  const page = Type.Object({ data: Type.Array(schemas.row), next_cursor: Nullable(Type.String()), total: Type.Optional(Type.Integer()) });
  return { list, create, page, filterNames: Object.keys(filters) };
}

export interface ResourceRoutesOptions {
  resources: Resource[];
}

const resourceRoutes: FastifyPluginAsyncTypebox<ResourceRoutesOptions> = async (app, { resources }) => {
  app.addHook('onRequest', app.authenticate);

  for (const resource of resources) {
    const { name, schemas } = resource;
    const tags = [name];
    const s = schemasOf(resource);
    const base = `/${name}`;

    app.post(
      base,
      { schema: { summary: `Create a row of ${name}`, tags, security, body: s.create, response: { 201: schemas.row, ...errorResponses('not_found', 'conflict', ...BODY_ERRORS) } } },
      async (request, reply) => {
        const row = await service.createRow(request.ctx, resource, request.body as Record<string, unknown>);
        return reply.code(201).header('location', `/api/v1/${name}/${String(row.id)}`).send(row);
      },
    );

    app.get(
      base,
      { config: carry, schema: { summary: `List the caller's ${name}`, tags, security, querystring: s.list, response: { 200: s.page, ...errorResponses() } } },
      async (request) => {
        const { sort, limit, cursor, count, ...rest } = request.query as Record<string, unknown>;
        const filters = Object.fromEntries(Object.entries(rest).filter(([k]) => s.filterNames.includes(k)));
        return service.listRows(request.ctx, resource, { sort, limit, cursor, count, filters } as service.ListParams);
      },
    );

    app.get(
      `${base}/:id`,
      { config: carry, schema: { summary: `Get one row of ${name}`, tags, security, params: IdParams, response: { 200: schemas.row, ...errorResponses('not_found') } } },
      async (request) => service.getRow(request.ctx, resource, request.params.id),
    );

    app.patch(
      `${base}/:id`,
      { schema: { summary: `Change a row of ${name}`, tags, security, params: IdParams, body: schemas.patch, response: { 200: schemas.row, ...errorResponses('not_found', 'conflict', ...BODY_ERRORS) } } },
      async (request) => service.patchRow(request.ctx, resource, request.params.id, request.body as Record<string, unknown>),
    );

    app.delete(
      `${base}/:id`,
      { schema: { summary: `Delete a row of ${name}`, tags, security, params: IdParams, response: { 204: Type.Null(), ...errorResponses('not_found') } } },
      async (request, reply) => {
        await service.deleteRow(request.ctx, resource, request.params.id);
        return reply.code(204).send(null);
      },
    );
  }
};

export default resourceRoutes;
