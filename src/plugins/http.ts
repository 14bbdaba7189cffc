import cors from '@fastify/cors';
import helmet from '@fastify/helmet';
import fp from 'fastify-plugin';
import type { Config } from '../config.js';

// CORS from an explicit allowlist: credentials are allowed, so a wildcard never is.
export default fp<{ config: Config }>(
  async (app, { config }) => {
    const allowed = new Set(config.corsOrigins);
    await app.register(cors, {
      origin: (origin, cb) => cb(null, origin !== undefined && allowed.has(origin)),
      credentials: true,
      methods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'],
      allowedHeaders: ['authorization', 'content-type', 'if-match', 'if-none-match', 'x-request-id', 'apikey', 'prefer', 'range', 'range-unit', 'accept-profile', 'content-profile', 'x-client-info', 'x-supabase-api-version', 'x-retry-count'],
      exposedHeaders: ['x-request-id', 'etag', 'retry-after', 'content-range', 'preference-applied', 'ratelimit-limit', 'ratelimit-remaining', 'ratelimit-reset'],
      maxAge: 600,
    });
    await app.register(helmet, {
      // The API serves JSON; the docs page sets its own policy (see plugins/openapi.ts).
      contentSecurityPolicy: false,
      crossOriginResourcePolicy: { policy: 'same-site' },
    });
  },
  { name: 'http' },
);
