import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../errors/app-error.js';
import { isInputTooComplex } from '../errors/database.js';
import { toAppError } from '../errors/http.js';
import { errorBody } from '../errors/responses.js';

// The native surface's error and not-found handlers: every error in the one documented shape
// (src/errors/), internals to the log only. The compat surfaces set their own (compat-guard.ts).

type ErrorHandler = (error: FastifyError, request: FastifyRequest, reply: FastifyReply) => unknown;

/**
 * An error handler that first settles the request's pending session check (context/session.ts):
 * an error before any read (a 400 from validation, a bad cursor) must not answer a dead
 * session with anything but its 401.
 */
export function settlingSessionFirst(handler: ErrorHandler): ErrorHandler {
  return (error, request, reply) => {
    const check = request.sessionCheck;
    // A 5xx carries no data and must not wait: the check would queue for the same database
    // that is failing (a deadline, a closed pool), and the answer is a 503 either way.
    if (!check || check.settled || toAppError(error).statusCode >= 500) return handler(error, request, reply);
    return check.run().then(
      () => handler(error, request, reply),
      (refused: FastifyError) => handler(refused, request, reply),
    );
  };
}

/** Fastify error handler: one shape for every error; internals go to the log only. */
export function handleError(error: FastifyError, request: FastifyRequest, reply: FastifyReply) {
  const appError = toAppError(error);
  if (appError.statusCode >= 500) {
    request.log.error({ err: error }, appError.code === 'internal_error' ? 'unhandled error' : appError.message);
  } else if (isInputTooComplex(error)) {
    // A 400 for the client, but a bound is missing somewhere: worth an operator's look.
    request.log.warn({ err: error }, 'request too deeply nested or too complex');
  } else if (!(error instanceof AppError)) {
    // Only the code: parser messages can quote the body, and bodies carry passwords.
    request.log.info({ code: appError.code, details: appError.details }, 'request rejected');
  }
  if (appError.headers) reply.headers(appError.headers);
  return reply.code(appError.statusCode).send(errorBody(appError, request.id));
}

export function handleNotFound(request: FastifyRequest, reply: FastifyReply) {
  return reply.code(404).send(errorBody(new AppError('not_found', { message: 'Route not found.' }), request.id));
}
