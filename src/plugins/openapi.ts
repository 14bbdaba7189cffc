import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import fp from 'fastify-plugin';

/**
 * The document with the app's own validation keyword `maxDepth` (lib/json-depth.ts) written as
 * the extension `x-max-depth`: OpenAPI validators (and the test's linter) know no `maxDepth`,
 * and the route schemas Ajv compiles keep theirs. A copy: the route schemas are never touched.
 */
function withExtensionKeywords(node: unknown, parentKey?: string): unknown {
  if (Array.isArray(node)) return node.map((item) => withExtensionKeywords(item));
  if (node === null || typeof node !== 'object') return node;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(node)) {
    // Under `properties` a key is a field name, never a keyword.
    const keyword = parentKey !== 'properties' && key === 'maxDepth' && typeof value === 'number';
    out[keyword ? 'x-max-depth' : key] = withExtensionKeywords(value, key);
  }
  return out;
}

// OpenAPI 3 generated from the route schemas; served raw at /openapi.json and as a UI at /docs.
export default fp(
  async (app) => {
    await app.register(swagger, {
      openapi: {
        openapi: '3.1.0',
        info: { title: 'offbase API', version: '1.0.0', description: 'Documents, analyses, audit trail and auth.' },
        components: {
          securitySchemes: {
            bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
            // The anon key supabase-js sends to /auth/v1 and /rest/v1 (OFFBASE_ANON_KEY).
            apikey: { type: 'apiKey', in: 'header', name: 'apikey' },
          },
        },
      },
      transformObject: (document) => withExtensionKeywords('openapiObject' in document ? document.openapiObject : document.swaggerObject) as Record<string, never>,
    });
    await app.register(swaggerUi, { routePrefix: '/docs', staticCSP: true, logLevel: 'warn' });
    app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  },
  { name: 'openapi' },
);
