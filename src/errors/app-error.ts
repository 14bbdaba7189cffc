import { ERROR_CATALOG, type ErrorCode } from './catalog.js';

export interface ErrorDetail {
  field?: string;
  message: string;
  [key: string]: unknown;
}

export interface AppErrorOptions {
  /** Replaces the catalog's default message; it is sent to the client, so never internals. */
  message?: string;
  details?: ErrorDetail[];
  /** Sent as Retry-After (seconds). */
  retryAfterS?: number;
  /** Any other response headers the error carries (e.g. RateLimit-*). */
  headers?: Record<string, string>;
}

/** An error the client is meant to see: a catalog code, its status, and a safe message. */
export class AppError extends Error {
  readonly statusCode: number;
  readonly details?: ErrorDetail[];
  readonly headers?: Record<string, string>;

  constructor(
    readonly code: ErrorCode,
    options: AppErrorOptions = {},
  ) {
    const { message, details, retryAfterS, headers } = options;
    super(message ?? ERROR_CATALOG[code].message);
    this.name = 'AppError';
    this.statusCode = ERROR_CATALOG[code].status;
    if (details) this.details = details;
    if (retryAfterS !== undefined || headers) {
      this.headers = { ...(retryAfterS === undefined ? {} : { 'retry-after': String(retryAfterS) }), ...headers };
    }
  }
}
