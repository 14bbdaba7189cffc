import type { FastifyPluginAsync } from 'fastify';
import authRoutes from './auth/routes.js';
import restRoutes from './rest/routes.js';

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
