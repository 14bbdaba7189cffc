// Every error code the native API answers with: its HTTP status and default message, in one
// list. Codes are part of the public contract: add new ones here, never rename one.
export const ERROR_CATALOG = {
  invalid_json: { status: 400, message: 'The request body is not valid JSON.' },
  validation_failed: { status: 400, message: 'The request is invalid.' },
  weak_password: { status: 400, message: 'The password is too weak.' },
  invalid_token: { status: 401, message: 'The token is invalid or expired.' },
  unauthorized: { status: 401, message: 'Authentication is required.' },
  invalid_credentials: { status: 401, message: 'Invalid email or password.' },
  invalid_refresh_token: { status: 401, message: 'The refresh token is invalid, expired or revoked.' },
  refresh_token_reused: { status: 401, message: 'The refresh token was already used; the session has been revoked.' },
  forbidden: { status: 403, message: 'You are not allowed to do this.' },
  email_not_verified: { status: 403, message: 'The email address has not been verified.' },
  mfa_required: { status: 403, message: 'This session must complete multi-factor authentication first.' },
  not_found: { status: 404, message: 'Not found.' },
  method_not_allowed: { status: 405, message: 'Method not allowed.' },
  not_acceptable: { status: 406, message: 'The requested representation is not available.' },
  conflict: { status: 409, message: 'The resource already exists or was changed concurrently.' },
  email_taken: { status: 409, message: 'An account with this email already exists.' },
  precondition_failed: { status: 412, message: 'The resource has changed since it was read.' },
  payload_too_large: { status: 413, message: 'The request body is too large.' },
  unsupported_media_type: { status: 415, message: 'The content type is not supported.' },
  mfa_verification_failed: { status: 422, message: 'The code is invalid, expired or already used.' },
  mfa_challenge_expired: { status: 422, message: 'The challenge has expired or was already used; create a new one.' },
  rate_limited: { status: 429, message: 'Too many requests; try again later.' },
  internal_error: { status: 500, message: 'An unexpected error occurred.' },
  service_unavailable: { status: 503, message: 'The service is temporarily unavailable; try again shortly.' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERROR_CATALOG;

/** Code → HTTP status, read from the catalog. */
export const ERROR_CODES = Object.fromEntries(Object.entries(ERROR_CATALOG).map(([code, { status }]) => [code, status])) as {
  readonly [C in ErrorCode]: (typeof ERROR_CATALOG)[C]['status'];
};

/** The first code of the catalog with this status (a 4xx from a plugin we do not map by name). */
export function codeForStatus(status: number): ErrorCode | undefined {
  return (Object.keys(ERROR_CATALOG) as ErrorCode[]).find((c) => ERROR_CATALOG[c].status === status);
}
