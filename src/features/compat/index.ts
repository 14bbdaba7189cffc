import type { FastifyPluginAsync } from 'fastify';
import { toGoTrueError } from './auth/errors.js';
import authRoutes from './auth/routes.js';
import { compatErrorHandler } from '../../plugins/compat-guard.js';
import { toPostgrestError } from './rest/errors.js';
import restRoutes from './rest/routes.js';

const gotrueErrors = compatErrorHandler(toGoTrueError);
const postgrestErrors = compatErrorHandler(toPostgrestError);

/**
 * Errors raised before routing (a URL that does not decode, a path segment over the router's
 * limit) cannot reach a surface's own error handler: this picks the surface from the path so
 * supabase-js still gets the shape it parses. null for every other path.
 */
export function compatFrameworkErrorHandler(url: string): ReturnType<typeof compatErrorHandler> | null {
  if (url.startsWith('/auth/v1/')) return gotrueErrors;
  if (url.startsWith('/rest/v1/')) return postgrestErrors;
  return null;
}

// The Supabase-compatible surfaces: GoTrue's /auth/v1 and PostgREST's /rest/v1, both over
// offbase's own auth and data code. Requests need OFFBASE_ANON_KEY as `apikey`.
const compat: FastifyPluginAsync = async (app) => {
  // supabase-js sends `Content-Type: application/json` with no body on sign-out and DELETE;
  // GoTrue and PostgREST read that as "no body", so here an empty JSON body is not an error.
  const json = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    if (body === '') return done(null, undefined);
    return json(request, String(body), done);
  });
  if (!app.config.auth.anonKey) app.log.warn('OFFBASE_ANON_KEY is not set: /auth/v1 and /rest/v1 answer 401 to every request');
  await app.register(authRoutes, { prefix: '/auth/v1' });
  await app.register(restRoutes, { prefix: '/rest/v1' });
};

export default compat;
