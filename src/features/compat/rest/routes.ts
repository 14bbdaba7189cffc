import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { SQL } from 'drizzle-orm';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { RequestContext } from '../../../context/index.js';
import { compileFilters } from '../../../query/index.js';
import { userBearer } from '../apikey.js';
import { apiKeyGuard, compatErrorHandler } from '../../../plugins/compat-guard.js';
import { invalidRange, notSingular, PostgrestError, rlsViolation, toPostgrestError, unknownTable } from './errors.js';
import { contentRange, effectiveRange, parseAccept, parsePrefer, parseQuery, parseRange, type ParsedQuery, type Preferences, type Representation } from './parser.js';
import { mutateTable, readTable, shapeWritten } from './service.js';
import { resolveFilters, resolveOrder, resolveSelect } from './resolve.js';
import type { Resource } from '../../../resources/index.js';
import { deleteRows, insertRows, updateRows, type WriteInput } from './write.js';

const tags = ['supabase-rest'];
// Supabase's default max-rows: a read without a limit returns at most this many rows.
const MAX_ROWS = 1000;
const MAX_OFFSET = 100_000;
const MiB = 1_048_576;

const Params = Type.Object({ table: Type.String({ maxLength: 63 }) });
// Filters are PostgREST grammar under arbitrary column names: parser.ts reads the raw URL.
const Query = Type.Object({}, { additionalProperties: true });
const Row = Type.Record(Type.String(), Type.Unknown());
const Body = Type.Union([Row, Type.Array(Row)]);
const PostgrestErrorView = Type.Object({
  code: Type.String(),
  message: Type.String(),
  details: Type.Union([Type.String(), Type.Null()]),
  hint: Type.Union([Type.String(), Type.Null()]),
});
// Every call needs the anon key; writes that create rows need the user's Bearer token too.
const security = [{ apikey: [] }];
const userSecurity = [{ apikey: [], bearer: [] }];
const errors = Object.fromEntries([400, 401, 403, 404, 405, 406, 409, 413, 415, 416, 429, 500, 503].map((s) => [s, PostgrestErrorView]));
const Result = Type.Union([Type.Array(Row), Row, Type.Null()]);

const asJson = (payload: unknown) => JSON.stringify(payload);

function dropNulls(value: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== null));
}

/** The parameters of the URL, in order, without `apikey` (a credential, not a filter). */
function urlParams(request: FastifyRequest): [string, string][] {
  const search = request.url.includes('?') ? request.url.slice(request.url.indexOf('?')) : '';
  return [...new URLSearchParams(search)].filter(([k]) => k !== 'apikey');
}

function preferenceApplied(prefs: Preferences, keys: ('return' | 'count' | 'resolution' | 'missing')[]): string {
  return keys
    .filter((k) => (k === 'return' ? true : prefs[k] !== undefined && !(k === 'missing' && prefs.missing === 'null')))
    .map((k) => `${k}=${prefs[k]}`)
    .join(', ');
}

// /rest/v1/<table>: PostgREST's grammar over the data API's queries and write functions.
const routes: FastifyPluginAsyncTypebox = async (app) => {
  const anonKey = app.config.auth.anonKey;

  app.addHook('onRequest', apiKeyGuard(anonKey, (status, message) => new PostgrestError(status, 'PGRST301', message, null, 'Send the OFFBASE_ANON_KEY as the apikey header.')));
  app.setErrorHandler(compatErrorHandler(toPostgrestError));
  app.setNotFoundHandler((_request, reply) => reply.code(404).send(new PostgrestError(404, 'PGRST125', 'Invalid path specified in request URL').toJSON()));

  /**
   * null for the anon key alone (PostgREST's anon role); otherwise the context of a live
   * session's user. This surface behaves like owner-only row-level security for everyone: an
   * admin is a plain user here (a Supabase frontend's "my documents" must not list every
   * user's), so the context is asked for no admin powers.
   */
  async function callerOf(request: FastifyRequest, reply: FastifyReply): Promise<{ ctx: RequestContext; actor: NonNullable<RequestContext['actor']> } | null> {
    if (!userBearer(anonKey, request)) return null;
    await app.authenticate(request, reply);
    const ctx = request.ctx.withoutAdminPowers();
    return { ctx, actor: ctx.actor! };
  }

  const writeInput = (request: FastifyRequest, resource: Resource, ctx: RequestContext, userId: string): WriteInput => ({
    resource,
    ctx,
    userId,
    compile: (schema) => request.compileValidationSchema(schema),
  });

  function prepare(request: FastifyRequest): { resource: Resource; query: ParsedQuery; prefs: Preferences } {
    const { table } = request.params as { table: string };
    const resource = app.resources.get(table);
    if (!resource) throw unknownTable(table);
    return { resource, query: parseQuery(urlParams(request)), prefs: parsePrefer(request.headers.prefer) };
  }

  /** Filters of a PATCH or DELETE: required, as Supabase's safeupdate requires a WHERE clause. */
  function mutationWhere(resource: Resource, query: ParsedQuery, verb: 'UPDATE' | 'DELETE') {
    if (query.limit !== undefined || query.offset !== undefined) throw new PostgrestError(400, 'PGRST100', `limit and offset are not supported on ${verb} by offbase`);
    const where = compileFilters(resource.restSpec, resolveFilters(resource, query.filters));
    if (!where) throw new PostgrestError(400, '21000', `${verb} requires a WHERE clause`, null, 'Add a filter, e.g. .eq("id", id), to the request.');
    return where;
  }

  /**
   * Sends rows as an array, or as one object for Accept: application/vnd.pgrst.object+json (406
   * unless exactly one). The rows hold what the request's select named, nothing else (read.ts
   * builds them key by key), and their schema is "any JSON": JSON.stringify writes them as the
   * schema's serializer would, without walking every value through a generic schema.
   */
  function sendRows(reply: FastifyReply, accept: Representation, status: number, rows: Record<string, unknown>[]) {
    const shaped = accept.stripNulls ? rows.map(dropNulls) : rows;
    if (accept.single && shaped.length !== 1) throw notSingular(shaped.length);
    return reply
      .code(status)
      .serializer(asJson)
      .send(accept.single ? shaped[0] : shaped);
  }

  app.get(
    '/:table',
    {
      // The read carries the session check (plugins/authenticate.ts): one round trip per request.
      config: { carrySessionCheck: true },
      schema: { summary: 'PostgREST read of a declared table', tags, security, params: Params, querystring: Query, response: { 200: Result, 206: Result, ...errors } },
    },
    async (request, reply) => {
      const { resource, query, prefs } = prepare(request);
      const accept = parseAccept(request.headers.accept);
      const projection = resolveSelect(resource, query, app.resources);
      const filters = resolveFilters(resource, query.filters);
      const order = resolveOrder(resource, query.order);
      const range = effectiveRange(query, parseRange(typeof request.headers.range === 'string' ? request.headers.range : undefined));
      if (range.offset > MAX_OFFSET) throw invalidRange(`offset must be at most ${MAX_OFFSET}`);
      const limit = Math.min(range.limit ?? MAX_ROWS, MAX_ROWS);
      const caller = await callerOf(request, reply);

      const { rows, total } = await readTable(caller?.ctx ?? null, { resource, projection, filters, order, offset: range.offset, limit, count: Boolean(prefs.count) });
      reply.header('content-range', contentRange(range.offset, rows.length, total));
      if (prefs.count) reply.header('preference-applied', `count=${prefs.count}`);
      const partial = total !== null && rows.length < total && !accept.single;
      return sendRows(reply, accept, partial ? 206 : 200, rows);
    },
  );

  app.post(
    '/:table',
    { bodyLimit: 16 * MiB, schema: { summary: 'PostgREST insert or upsert into a declared table', tags, security: userSecurity, params: Params, querystring: Query, body: Body, response: { 201: Result, ...errors } } },
    async (request, reply) => {
      const { resource, query, prefs } = prepare(request);
      const accept = parseAccept(request.headers.accept);
      const projection = resolveSelect(resource, query, app.resources);
      const caller = await callerOf(request, reply);
      if (!caller) throw rlsViolation(resource.name, true);
      const { ctx, actor } = caller;
      const count = Array.isArray(request.body) ? request.body.length : 1;
      if (accept.single && count !== 1) throw notSingular(count);
      const written = await insertRows(writeInput(request, resource, ctx, actor.id), request.body, prefs, query.columns, query.onConflict);
      reply.header('preference-applied', preferenceApplied(prefs, ['return', 'resolution', 'missing', 'count']));
      if (prefs.count) reply.header('content-range', `*/${written.length}`);
      // return=minimal: no body at all, as PostgREST.
      if (prefs.return !== 'representation') return reply.code(201).send(undefined as never);
      return sendRows(reply, accept, 201, await shapeWritten(ctx, resource, projection, written));
    },
  );

  /**
   * PATCH and DELETE: filtered, owner-scoped, audited by the data API. The anon role matches
   * no row (owner-only RLS), so nothing changes; `.single()` on a write that would not touch
   * exactly one row is refused before anything is written.
   */
  async function mutate(
    request: FastifyRequest,
    reply: FastifyReply,
    verb: 'UPDATE' | 'DELETE',
    run: (input: WriteInput, where: SQL) => Promise<Record<string, unknown>[]>,
  ) {
    const { resource, query, prefs } = prepare(request);
    const accept = parseAccept(request.headers.accept);
    const projection = resolveSelect(resource, query, app.resources);
    const where = mutationWhere(resource, query, verb);
    const caller = await callerOf(request, reply);
    const rows = await mutateTable(caller?.ctx ?? null, resource, where, accept.single, () => run(writeInput(request, resource, caller!.ctx, caller!.actor.id), where));
    reply.header('preference-applied', preferenceApplied(prefs, ['return', 'count']));
    if (prefs.count) reply.header('content-range', `*/${rows.length}`);
    if (prefs.return !== 'representation') return reply.code(204).send(null);
    return sendRows(reply, accept, 200, caller ? await shapeWritten(caller.ctx, resource, projection, rows) : []);
  }

  const mutationResponses = { 200: Result, 204: { type: 'null' }, ...errors };

  app.patch('/:table', { schema: { summary: 'PostgREST filtered update of a declared table', tags, security, params: Params, querystring: Query, body: Row, response: mutationResponses } }, async (request, reply) =>
    mutate(request, reply, 'UPDATE', (input, where) => updateRows(input, request.body, where)),
  );

  app.delete('/:table', { schema: { summary: 'PostgREST filtered delete from a declared table', tags, security, params: Params, querystring: Query, response: mutationResponses } }, async (request, reply) =>
    mutate(request, reply, 'DELETE', (input, where) => deleteRows(input, where)),
  );

  // PUT is PostgREST's single-row upsert by primary key; offbase answers it like PostgREST would
  // for a verb it does not allow on this resource. Not part of the API, so not in the OpenAPI document.
  app.put('/:table', { schema: { hide: true, params: Params, response: { ...errors } } }, async () => {
    throw new PostgrestError(405, 'PGRST117', 'Unsupported HTTP method: PUT', null, 'Use POST with Prefer: resolution=merge-duplicates (supabase-js upsert()).');
  });
};

export default routes;
