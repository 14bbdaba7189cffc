import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../errors/app-error.js';
import { isInputTooComplex } from '../errors/database.js';
import { toAppError } from '../errors/http.js';
import { settlingSessionFirst } from './error-handler.js';
import { API_KEY_MESSAGES, checkApiKey } from '../features/compat/apikey.js';

// What both Supabase-compatible surfaces share: the anon-key gate in front of every route,
// and an error handler that answers in the surface's own error shape.

interface ShapedError {
  statusCode: number;
  headers: Record<string, string>;
  toJSON(): unknown;
}

/** onRequest hook: 401 in the surface's shape unless the request carries OFFBASE_ANON_KEY. */
export function apiKeyGuard(anonKey: string | null, makeError: (status: number, message: string) => ShapedError) {
  // Callback style: no promise per request.
  return (request: FastifyRequest, _reply: FastifyReply, done: (err?: Error) => void) => {
    const check = checkApiKey(anonKey, request);
    if (check !== 'ok') return done(makeError(401, API_KEY_MESSAGES[check]) as unknown as Error);
    done();
  };
}

/**
 * Fastify's own errors (schema validation, bad JSON, body too large) become offbase's
 * AppErrors first, then the surface maps them. Internals go to the log only.
 */
export function compatErrorHandler(toShape: (error: unknown) => ShapedError) {
  return settlingSessionFirst((error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    const framework = !(error instanceof AppError) && (error.validation !== undefined || String(error.code ?? '').startsWith('FST_') || error instanceof SyntaxError);
    const shaped = toShape(framework ? toAppError(error) : error);
    // 503 is the database or a deadline, not a bug: logged as such, like the native surface does.
    if (shaped.statusCode >= 500) request.log.error({ err: error }, shaped.statusCode === 503 ? 'service unavailable' : 'unhandled error');
    else if (isInputTooComplex(error)) request.log.warn({ err: error }, 'request too deeply nested or too complex');
    else request.log.info({ status: shaped.statusCode, code: (shaped.toJSON() as { code?: unknown; error_code?: unknown }).error_code ?? (shaped.toJSON() as { code?: unknown }).code }, 'request rejected');
    reply.headers(shaped.headers);
    return reply.code(shaped.statusCode).send(shaped.toJSON());
  });
}
