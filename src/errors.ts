import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';

// Every error code the API can answer with, and its HTTP status. Codes are part of the
// public contract: add new ones here, never rename one.
export const ERROR_CODES = {
  invalid_json: 400,
  validation_failed: 400,
  weak_password: 400,
  invalid_token: 401,
  unauthorized: 401,
  invalid_credentials: 401,
  invalid_refresh_token: 401,
  refresh_token_reused: 401,
  forbidden: 403,
  email_not_verified: 403,
  not_found: 404,
  method_not_allowed: 405,
  not_acceptable: 406,
  conflict: 409,
  email_taken: 409,
  precondition_failed: 412,
  payload_too_large: 413,
  unsupported_media_type: 415,
  rate_limited: 429,
  internal_error: 500,
  service_unavailable: 503,
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

const DEFAULT_MESSAGES: Record<ErrorCode, string> = {
  invalid_json: 'The request body is not valid JSON.',
  validation_failed: 'The request is invalid.',
  weak_password: 'The password is too weak.',
  invalid_token: 'The token is invalid or expired.',
  unauthorized: 'Authentication is required.',
  invalid_credentials: 'Invalid email or password.',
  invalid_refresh_token: 'The refresh token is invalid, expired or revoked.',
  refresh_token_reused: 'The refresh token was already used; the session has been revoked.',
  forbidden: 'You are not allowed to do this.',
  email_not_verified: 'The email address has not been verified.',
  not_found: 'Not found.',
  method_not_allowed: 'Method not allowed.',
  not_acceptable: 'The requested representation is not available.',
  conflict: 'The resource already exists or was changed concurrently.',
  email_taken: 'An account with this email already exists.',
  precondition_failed: 'The resource has changed since it was read.',
  payload_too_large: 'The request body is too large.',
  unsupported_media_type: 'The content type is not supported.',
  rate_limited: 'Too many requests; try again later.',
  internal_error: 'An unexpected error occurred.',
  service_unavailable: 'The service is temporarily unavailable; try again shortly.',
};

export interface ErrorDetail {
  field?: string;
  message: string;
  [key: string]: unknown;
}

export class AppError extends Error {
  readonly statusCode: number;
  constructor(
    readonly code: ErrorCode,
    message?: string,
    readonly details?: ErrorDetail[],
    readonly headers?: Record<string, string>,
  ) {
    super(message ?? DEFAULT_MESSAGES[code]);
    this.name = 'AppError';
    this.statusCode = ERROR_CODES[code];
  }
}

export interface ErrorBody {
  code: ErrorCode;
  message: string;
  request_id: string;
  details?: ErrorDetail[];
}

// postgres.js / network failures that mean "the database is not answering right now",
// as opposed to a bug: they become 503 with Retry-After so clients and the ALB back off.
const UNAVAILABLE_ERRNO = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
  'CONNECT_TIMEOUT',
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  'QUERY_DEADLINE', // offbase's client-side deadline (scripts/patch-postgres.mjs)
]);
// SQLSTATE classes 08 (connection), 53 (resources), 57P (operator intervention) and
// 57014 (statement timeout / cancel): transient by nature.
const UNAVAILABLE_SQLSTATE = /^(08|53|57P)|^57014$/;

function causes(error: unknown): unknown[] {
  const chain: unknown[] = [];
  let current: unknown = error;
  while (current && chain.length < 5) {
    chain.push(current);
    current = (current as { cause?: unknown }).cause;
  }
  return chain;
}

export function isDatabaseUnavailable(error: unknown): boolean {
  return causes(error).some((e) => {
    const code = (e as { code?: unknown }).code;
    if (typeof code !== 'string') return false;
    return UNAVAILABLE_ERRNO.has(code) || (/^[0-9A-Z]{5}$/.test(code) && UNAVAILABLE_SQLSTATE.test(code));
  });
}

/** The PostgreSQL SQLSTATE of a driver error, looking through drizzle's wrapper. */
export function sqlState(error: unknown): string | undefined {
  for (const e of causes(error)) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return code;
  }
  return undefined;
}

function fromFramework(error: FastifyError): AppError | null {
  if (error.validation) {
    const details = error.validation.map((v) => {
      const path = (v.instancePath || '').replace(/^\//, '').replaceAll('/', '.');
      const missing = (v.params as { missingProperty?: string }).missingProperty;
      const extra = (v.params as { additionalProperty?: string }).additionalProperty;
      const field = [path, missing ?? extra].filter(Boolean).join('.') || error.validationContext || 'body';
      const message = extra ? 'is not an allowed field' : (v.message ?? 'is invalid');
      return { field: `${error.validationContext ?? 'body'}${field ? `.${field}` : ''}`.replace(/^(\w+)\.\1$/, '$1'), message };
    });
    return new AppError('validation_failed', 'The request is invalid.', details);
  }
  switch (error.code) {
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new AppError('invalid_json', 'The request body is empty but Content-Type is application/json.');
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new AppError('invalid_json');
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new AppError('payload_too_large');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_ERR_CTP_INVALID_TYPE':
      return new AppError('unsupported_media_type');
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new AppError('validation_failed', 'The Content-Length header does not match the body.');
    case 'FST_ERR_BAD_URL':
      return new AppError('validation_failed', 'The URL is malformed.');
    case 'FST_ERR_NOT_FOUND':
      return new AppError('not_found');
    case 'FST_ERR_HANDLER_TIMEOUT': // REQUEST_TIMEOUT_MS passed
      return new AppError('service_unavailable', 'The request did not complete in time; try again shortly.', undefined, { 'retry-after': '5' });
    case 'FAST_JWT_MISSING_TOKEN': // defensive: routes map JWT errors themselves
      return new AppError('unauthorized');
  }
  if (error instanceof SyntaxError && error.statusCode === 400) return new AppError('invalid_json');
  if (error.statusCode === 429) return new AppError('rate_limited');
  return null;
}

/**
 * Input too deep or too complex for whoever walked it: a stack overflow (RangeError) in a
 * recursive walk such as JSON.stringify, or PostgreSQL's class 54 (program limit exceeded:
 * stack depth, statement too complex, index row too large). Validation bounds depth first
 * (lib/json-depth.ts); a request that still gets here is the client's 400, never a 500.
 */
export function isInputTooComplex(error: unknown): boolean {
  if (causes(error).some((e) => e instanceof RangeError && /maximum call stack/i.test(e.message))) return true;
  return sqlState(error)?.startsWith('54') ?? false;
}

export function toAppError(error: unknown): AppError {
  if (error instanceof AppError) return error;
  if (isDatabaseUnavailable(error)) return new AppError('service_unavailable', undefined, undefined, { 'retry-after': '5' });
  const framework = fromFramework(error as FastifyError);
  if (framework) return framework;
  // The net under validation: PostgreSQL refusing a value (class 22: NUL or a lone surrogate
  // in text/jsonb, bad text for a type, out of range) is the client's input, never a 500.
  if (sqlState(error)?.startsWith('22')) return new AppError('validation_failed', 'A value is invalid for its column.');
  if (isInputTooComplex(error)) return new AppError('validation_failed', 'The request is nested too deeply or is too complex.', [{ field: 'request', message: 'is nested too deeply or is too complex' }]);
  const status = (error as FastifyError).statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    // A 4xx from a plugin we do not map explicitly: keep the status, never the raw text.
    const code = (Object.keys(ERROR_CODES) as ErrorCode[]).find((c) => ERROR_CODES[c] === status) ?? 'validation_failed';
    return new AppError(code);
  }
  return new AppError('internal_error');
}

export function errorBody(error: AppError, requestId: string): ErrorBody {
  return {
    code: error.code,
    message: error.message,
    request_id: requestId,
    ...(error.details ? { details: error.details } : {}),
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
  return reply.code(404).send(errorBody(new AppError('not_found', 'Route not found.'), request.id));
}
