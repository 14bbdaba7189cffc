import type { FastifyError } from 'fastify';
import { AppError } from './app-error.js';
import { codeForStatus } from './catalog.js';
import { isDatabaseUnavailable, isInputTooComplex, isTransactionConflict, rejectedInput } from './database.js';
import { fieldName, issueField } from './validation.js';

// Anything thrown while serving a request, as the AppError the client sees (the HTTP mapping).
// The Fastify handlers that send it are the HTTP edge: src/plugins/error-handler.ts.

function fromFramework(error: FastifyError): AppError | null {
  if (error.validation) {
    const context = error.validationContext ?? 'body';
    const details = error.validation.map((v) => {
      const field = fieldName(v) || error.validationContext || 'body';
      return { field: `${context}${field ? `.${field}` : ''}`.replace(/^(\w+)\.\1$/, '$1'), message: issueField(v).message };
    });
    return new AppError('validation_failed', { message: 'The request is invalid.', details });
  }
  switch (error.code) {
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new AppError('invalid_json', { message: 'The request body is empty but Content-Type is application/json.' });
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new AppError('invalid_json');
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new AppError('payload_too_large');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_ERR_CTP_INVALID_TYPE':
      return new AppError('unsupported_media_type');
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new AppError('validation_failed', { message: 'The Content-Length header does not match the body.' });
    case 'FST_ERR_BAD_URL':
      return new AppError('validation_failed', { message: 'The URL is malformed.' });
    case 'FST_ERR_NOT_FOUND':
      return new AppError('not_found');
    case 'FST_ERR_HANDLER_TIMEOUT': // REQUEST_TIMEOUT_MS passed
      return new AppError('service_unavailable', { message: 'The request did not complete in time; try again shortly.', retryAfterS: 5 });
    case 'FAST_JWT_MISSING_TOKEN': // defensive: routes map JWT errors themselves
      return new AppError('unauthorized');
  }
  if (error instanceof SyntaxError && error.statusCode === 400) return new AppError('invalid_json');
  if (error.statusCode === 429) return new AppError('rate_limited');
  return null;
}

export function toAppError(error: unknown): AppError {
  if (error instanceof AppError) return error;
  if (isDatabaseUnavailable(error)) return new AppError('service_unavailable', { retryAfterS: 5 });
  const framework = fromFramework(error as FastifyError);
  if (framework) return framework;
  const rejected = rejectedInput(error);
  if (rejected) return rejected;
  if (isTransactionConflict(error)) return new AppError('conflict', { message: 'A concurrent change to the same data interrupted the request; nothing was changed, send it again.' });
  if (isInputTooComplex(error)) {
    return new AppError('validation_failed', {
      message: 'The request is nested too deeply or is too complex.',
      details: [{ field: 'request', message: 'is nested too deeply or is too complex' }],
    });
  }
  const status = (error as FastifyError).statusCode;
  // A 4xx from a plugin we do not map explicitly: keep the status, never the raw text.
  if (typeof status === 'number' && status >= 400 && status < 500) return new AppError(codeForStatus(status) ?? 'validation_failed');
  return new AppError('internal_error');
}
