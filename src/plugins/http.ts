import type { IncomingMessage, ServerResponse } from 'node:http';
import cors, { type FastifyCorsOptions } from '@fastify/cors';
import type { FastifyError, FastifyInstance, FastifyPluginCallback, FastifyReply, onRequestHookHandler } from 'fastify';
import fp from 'fastify-plugin';
// Fastify's own symbols module (the package has no exports map): the same module the
// framework uses, so the same symbols, in the bundle too.
// @ts-expect-error -- an internal module of fastify, without type declarations
import fastifySymbols from 'fastify/lib/symbols.js';
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

/**
 * The security headers of a JSON API, as OWASP's REST Security Cheat Sheet lists them, set by
 * helmet. Every response offbase sends is JSON (or empty, or the metrics' text): no page, no
 * script, nothing a browser renders as a document. So a response forbids everything a document
 * could load or run (`default-src 'none'`: a response a browser is tricked into rendering runs
 * nothing), may not be framed (`frame-ancestors 'none'`, and X-Frame-Options DENY for browsers
 * without CSP), may not be sniffed into another type, is readable cross-site only through CORS
 * (CORP same-site), and HTTPS is pinned. helmet's headers that act only on HTML documents are
 * off: the opener policy and origin-agent clustering (browsing contexts), the referrer policy
 * (a JSON response links nowhere), DNS prefetch control (links in a page), X-Download-Options
 * (IE8's "open" of a download), X-Permitted-Cross-Domain-Policies (Flash and Acrobat) and
 * X-XSS-Protection (a filter no current browser has). Listed for users in the README (Operations).
 */
export const API_SECURITY_HEADERS: Readonly<HelmetOptions> = {
  contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } },
  crossOriginOpenerPolicy: false,
  crossOriginResourcePolicy: { policy: 'same-site' },
  originAgentCluster: false,
  referrerPolicy: false,
  strictTransportSecurity: { maxAge: 31_536_000, includeSubDomains: true },
  xContentTypeOptions: true,
  xDnsPrefetchControl: false,
  xDownloadOptions: false,
  xFrameOptions: { action: 'deny' },
  xPermittedCrossDomainPolicies: false,
  xXssProtection: false,
};

/**
 * @fastify/cors's onRequest hook for these options, taken instead of installed: the plugin runs
 * against `app` as usual (its request decorator, its `OPTIONS *` route for preflights) except
 * that the hook it adds is handed back, so the caller decides when the library is asked.
 */
function corsHook(app: FastifyInstance, options: FastifyCorsOptions): onRequestHookHandler {
  let hook: onRequestHookHandler | undefined;
  const host = {
    decorateRequest: app.decorateRequest.bind(app),
    options: app.options.bind(app),
    addHook(name: string, fn: onRequestHookHandler) {
      // Fails at boot, not per request, if an upgrade changes how the plugin installs itself.
      if (name !== 'onRequest' || hook) throw new Error(`@fastify/cors added an unexpected ${name} hook`);
      hook = fn;
    },
  };
  (cors as FastifyPluginCallback<FastifyCorsOptions>)(host as unknown as FastifyInstance, options, (err) => {
    if (err) throw err;
  });
  if (!hook) throw new Error('@fastify/cors added no onRequest hook');
  return hook;
}

/** The CORS options: an explicit allowlist; credentials are allowed, so a wildcard never is. */
export function corsOptions(origins: readonly string[]): FastifyCorsOptions {
  const allowed = new Set(origins);
  return {
    origin: (origin, cb) => cb(null, origin !== undefined && allowed.has(origin)),
    credentials: true,
    methods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'],
    allowedHeaders: ['authorization', 'content-type', 'if-match', 'if-none-match', 'x-request-id', 'apikey', 'prefer', 'range', 'range-unit', 'accept-profile', 'content-profile', 'x-client-info', 'x-supabase-api-version', 'x-retry-count'],
    exposedHeaders: ['x-request-id', 'etag', 'retry-after', 'content-range', 'preference-applied', 'ratelimit-limit', 'ratelimit-remaining', 'ratelimit-reset'],
    maxAge: 600,
  };
}

/**
 * Where a Fastify reply keeps the headers it will write (`reply.header` stores them there).
 * `reply.headers(obj)` lowercases and stores them one by one, a dozen property additions per
 * response; the static ones are copied in with one Object.assign instead. Checked at boot
 * here, and test/plugins/http.test.ts compares every response's headers with helmet's own.
 */
const kReplyHeaders = (fastifySymbols as { kReplyHeaders?: unknown } | undefined)?.kReplyHeaders;
if (typeof kReplyHeaders !== 'symbol') throw new Error("fastify/lib/symbols.js no longer exports kReplyHeaders: src/plugins/http.ts needs another way to set the security headers");
const headersKey: symbol = kReplyHeaders;

/** Sets `headers` (lowercase names, no set-cookie) on the reply, as `reply.headers(headers)` does. */
export function setStaticHeaders(reply: FastifyReply, headers: Readonly<Record<string, string>>): void {
  Object.assign((reply as unknown as Record<symbol, Record<string, unknown>>)[headersKey]!, headers);
}

export default fp<{ config: Config }>(
  async (app, { config }) => {
    const cors = corsHook(app, corsOptions(config.corsOrigins));
    const headers = securityHeaders(API_SECURITY_HEADERS);
    const withVary = { vary: 'Origin', ...headers };
    // CORS, then the security headers, on every response (errors and 404s included) unless CORS
    // answered a preflight itself; one callback-style hook, no promise per request.
    app.addHook('onRequest', function (request, reply, done) {
      // For a request without an Origin header the library's whole effect is `Vary: Origin`
      // (the allowlist answers false for no origin), so that is set here, without its
      // per-request option merge and closures. Anything else is the library's to decide.
      if (request.headers.origin === undefined && !reply.hasHeader('vary')) {
        setStaticHeaders(reply, withVary);
        done();
        return;
      }
      cors.call(this, request, reply, (err?: Error) => {
        if (err) return done(err as FastifyError);
        setStaticHeaders(reply, headers);
        done();
      });
    });
  },
  { name: 'http' },
);
