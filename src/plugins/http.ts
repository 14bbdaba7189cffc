import type { IncomingMessage, ServerResponse } from 'node:http';
import cors from '@fastify/cors';
import fp from 'fastify-plugin';
import helmet, { type HelmetOptions } from 'helmet';
import type { Config } from '../config.js';

/**
 * The security headers helmet sets for these options, computed once. helmet's headers depend
 * only on its options, never on the request, but @fastify/helmet rebuilds the middleware from
 * the options on every request (two async hooks and a dozen setHeader calls): here the
 * middleware runs once against a recording response and every reply gets the same headers.
 */
export function securityHeaders(options: HelmetOptions): Record<string, string> {
  const headers: Record<string, string> = {};
  const recorder = {
    setHeader(name: string, value: string | number | readonly string[]) {
      headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : String(value);
    },
    removeHeader(name: string) {
      delete headers[name.toLowerCase()];
    },
  };
  helmet(options)({} as IncomingMessage, recorder as unknown as ServerResponse, (err?: unknown) => {
    if (err) throw err;
  });
  return headers;
}

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
    const headers = securityHeaders({
      // The API serves JSON; the docs page sets its own policy (see plugins/openapi.ts).
      contentSecurityPolicy: false,
      crossOriginResourcePolicy: { policy: 'same-site' },
    });
    // On every response, errors and 404s included; callback style, no promise per request.
    app.addHook('onRequest', (_request, reply, done) => {
      reply.headers(headers);
      done();
    });
  },
  { name: 'http' },
);
