import { Type, type TSchema } from '@sinclair/typebox';
import type { AppError, ErrorDetail } from './app-error.js';
import { ERROR_CATALOG, type ErrorCode } from './catalog.js';

// The one error body of the native API, its schema, and the response map routes declare.

export interface ErrorBody {
  code: ErrorCode;
  message: string;
  request_id: string;
  details?: ErrorDetail[];
}

export function errorBody(error: AppError, requestId: string): ErrorBody {
  return {
    code: error.code,
    message: error.message,
    request_id: requestId,
    ...(error.details ? { details: error.details } : {}),
  };
}

export const ErrorResponse = Type.Object({
  code: Type.String(),
  message: Type.String(),
  request_id: Type.String(),
  details: Type.Optional(Type.Array(Type.Object({ field: Type.Optional(Type.String()), message: Type.String() }, { additionalProperties: true }))),
});

/**
 * `{ 400: ErrorResponse, 404: ErrorResponse, ... }`: the statuses every route can answer with, plus those of `codes`.
 * A route with a body adds 'payload_too_large' and 'unsupported_media_type' (BODY_ERRORS).
 */
/** What any route with a request body can also answer: a body over the limit (413), not JSON (415). */
export const BODY_ERRORS = ['payload_too_large', 'unsupported_media_type'] as const satisfies ErrorCode[];

export function errorResponses(...codes: ErrorCode[]): Record<number, TSchema> {
  const statuses = new Set<number>([400, 401, 429, 500, 503, ...codes.map((c) => ERROR_CATALOG[c].status)]);
  return Object.fromEntries([...statuses].map((s) => [s, ErrorResponse]));
}
