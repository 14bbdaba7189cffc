import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Config } from './config.js';
import type { Database } from './db/client.js';
import { handleError, handleNotFound, settlingSessionFirst } from './plugins/error-handler.js';
import { maxDepthKeyword } from './lib/json-depth.js';
import { lazySchemas } from './lib/lazy-schemas.js';
import { createLogger } from './logger.js';
import { fastifyTrustProxy } from './lib/trust-proxy.js';
import requestContext from './context/plugin.js';
import authenticate from './plugins/authenticate.js';
import authMaintenance from './features/auth/plugin.js';
import supabaseTokens from './features/compat/supabase-tokens/plugin.js';
import database from './plugins/database.js';
import http from './plugins/http.js';
import metrics from './plugins/metrics.js';
import openapi from './plugins/openapi.js';
import requestLog, { genReqId } from './plugins/request-log.js';
import shutdown from './plugins/shutdown.js';
import tracing from './plugins/tracing.js';
import health from './features/health/routes.js';
import auth from './features/auth/routes.js';
import mfa from './features/auth/mfa/routes.js';
import admin from './features/admin/routes.js';
import mailer from './plugins/mailer.js';
import rateLimit from './plugins/rate-limit.js';
import analyses from './features/analyses/routes.js';
import audit from './features/audit/routes.js';
import documents from './features/documents/routes.js';
import compat, { compatFrameworkErrorHandler } from './features/compat/index.js';
import { builtinResources } from './features/builtin-resources.js';
import type { Resource } from './resources/index.js';
import resourcesPlugin from './resources/plugin.js';
import resourceRoutes from './resources/routes.js';

export interface AppDeps {
  database: Database;
}

export interface BuildOptions {
  /** Defaults to the JSON logger built from config. */
  logger?: FastifyBaseLogger;
  /**
   * More tables to serve, each one declaration (docs/adding-a-table.md): registered next to
   * the built-in documents and analyses, on /api/v1/<name> and /rest/v1/<name>.
   */
  resources?: Resource[];
}

declare module 'fastify' {
  interface FastifyInstance {
    config: Config;
    /** Compiles every route schema now; they are otherwise compiled on first use (lib/lazy-schemas.ts). */
    compileSchemas(): void;
  }
}

/** Builds the whole HTTP application. server.ts listens on it; tests inject into it. */
export async function buildApp(config: Config, deps: AppDeps, options: BuildOptions = {}): Promise<FastifyInstance> {
  const schemas = lazySchemas();
  const app = Fastify({
    loggerInstance: options.logger ?? createLogger(config),
    genReqId,
    logController: new LogController({ requestIdLogLabel: 'request_id', disableRequestLogging: true }),
    bodyLimit: config.bodyLimit,
    trustProxy: fastifyTrustProxy(config.trustProxy),
    // While closing, the shutdown plugin answers 503 in each surface's own error shape;
    // fastify's built-in 503 would bypass the error handlers.
    return503OnClosing: false,
    // No request is in flight longer than config.requestTimeoutMs: the shutdown plugin answers
    // 503 service_unavailable past it (as `handlerTimeout` would, without its per-request timer).
    forceCloseConnections: 'idle',
    // Errors the router raises before any hook runs (a malformed %-escape in the path):
    // same error shape and request id header as everything else.
    frameworkErrors: (error, request, reply) => {
      reply.header('x-request-id', request.id);
      return (compatFrameworkErrorHandler(request.url) ?? handleError)(error, request, reply);
    },
    // A body key `__proto__` (or `constructor.prototype`) is refused with 400 invalid_json by the
    // JSON parser rather than stripped. (The query string already parses into an object with no
    // Object.prototype in its chain: test/features/compat/rest/prototype-pollution.test.ts pins both.)
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    ajv: {
      // strictNumbers: a JSON number too large for a double (1e309) parses to Infinity, which no
      // number or integer schema accepts then (lib/lazy-schemas.ts does the same for text).
      customOptions: { removeAdditional: false, coerceTypes: 'array', useDefaults: true, allErrors: false, allowUnionTypes: true, strictNumbers: true },
      // `maxDepth` on the JSON fields (lib/json-depth.ts): nesting is bounded before anything walks it.
      plugins: [maxDepthKeyword],
    },
    // Fastify's own Ajv and fast-json-stringify compilers, each schema compiled on first use.
    schemaController: schemas.schemaController,
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.decorate('config', config);
  app.decorate('compileSchemas', schemas.compileAll);
  app.setErrorHandler(settlingSessionFirst(handleError));
  app.setNotFoundHandler(handleNotFound);
  // Bodies are JSON only: Fastify's default text/plain parser would hand routes a string
  // (a 400 at best); without it, any non-JSON body is 415 unsupported_media_type.
  app.removeContentTypeParser('text/plain');

  await app.register(tracing);
  await app.register(requestLog);
  await app.register(shutdown, { requestTimeoutMs: config.requestTimeoutMs });
  await app.register(database, { database: deps.database });
  await app.register(requestContext);
  await app.register(metrics, { config });
  await app.register(http, { config });
  await app.register(openapi);
  await app.register(authenticate, { config });
  await app.register(supabaseTokens, { config });
  await app.register(authMaintenance, { config });
  await app.register(mailer, { config });
  await app.register(rateLimit, { config });
  await app.register(resourcesPlugin, { resources: [...builtinResources, ...(options.resources ?? [])] });

  await app.register(health);
  await app.register(auth, { prefix: '/api/v1/auth' });
  await app.register(mfa, { prefix: '/api/v1/auth' });
  await app.register(admin, { prefix: '/api/v1/admin' });
  await app.register(documents, { prefix: '/api/v1' });
  await app.register(analyses, { prefix: '/api/v1' });
  await app.register(audit, { prefix: '/api/v1' });
  await app.register(resourceRoutes, { prefix: '/api/v1', resources: app.resources.all().filter((r) => r.nativeRoutes) });
  await app.register(compat);

  return app;
}
