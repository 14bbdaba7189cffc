import { AppError } from '../../../errors/app-error.js';
import { isDatabaseUnavailable } from '../../../errors/database.js';
import { toAppError } from '../../../errors/http.js';

// GoTrue's error body: {code: <HTTP status>, error_code, msg} (plus weak_password for weak
// passwords). auth-js reads error_code (no X-Supabase-Api-Version response header is sent,
// so it takes the legacy path), turns weak_password into AuthWeakPasswordError and
// session_not_found into AuthSessionMissingError; frontends branch on error.code / error.status.

export interface GoTrueErrorBody {
  code: number;
  error_code: string;
  msg: string;
  weak_password?: { reasons: string[] };
}

export class GoTrueError extends Error {
  override name = 'GoTrueError';
  constructor(
    readonly statusCode: number,
    readonly errorCode: string,
    message: string,
    readonly extra: { weak_password?: { reasons: string[] } } = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }

  toJSON(): GoTrueErrorBody {
    return { code: this.statusCode, error_code: this.errorCode, msg: this.message, ...this.extra };
  }
}

export const noAuthorization = () => new GoTrueError(401, 'no_authorization', 'This endpoint requires a valid Bearer token');
export const badJwt = (why = 'invalid JWT: unable to parse or verify signature, token is expired or invalid') => new GoTrueError(403, 'bad_jwt', why);
export const sessionNotFound = () => new GoTrueError(403, 'session_not_found', 'Session from session_id claim in JWT does not exist');
export const validationFailed = (msg: string) => new GoTrueError(400, 'validation_failed', msg);
export const unsupportedGrant = () => new GoTrueError(400, 'unsupported_grant_type', 'unsupported_grant_type');

// offbase's password policy reasons → GoTrue's (length | characters | pwned); a reason GoTrue
// has no word for keeps offbase's name.
const WEAK_REASONS: Record<string, string> = { too_short: 'length', too_long: 'length', common_password: 'pwned' };

function weakPassword(e: AppError): GoTrueError {
  const reasons = [...new Set((e.details ?? []).map((d) => WEAK_REASONS[String(d.reason)] ?? String(d.reason ?? 'characters')))];
  const msg = (e.details ?? []).map((d) => `Password ${d.message}`).join('. ') || e.message;
  return new GoTrueError(422, 'weak_password', msg, { weak_password: { reasons } });
}

function fromAppError(e: AppError): GoTrueError {
  switch (e.code) {
    case 'invalid_credentials':
      return new GoTrueError(400, 'invalid_credentials', 'Invalid login credentials');
    case 'email_taken':
      return new GoTrueError(422, 'user_already_exists', 'User already registered');
    case 'weak_password':
      return weakPassword(e);
    case 'validation_failed':
      return validationFailed(e.details?.map((d) => (d.field ? `${d.field} ${d.message}` : d.message)).join('; ') || e.message);
    case 'invalid_json':
      return new GoTrueError(400, 'bad_json', 'Could not parse request body as JSON');
    case 'refresh_token_reused':
      return new GoTrueError(400, 'refresh_token_already_used', 'Invalid Refresh Token: Already Used');
    case 'invalid_refresh_token':
      return new GoTrueError(400, 'refresh_token_not_found', 'Invalid Refresh Token: Refresh Token Not Found');
    case 'rate_limited':
      return new GoTrueError(429, 'over_request_rate_limit', 'Request rate limit reached', {}, e.headers ?? {});
    case 'email_not_verified':
      return new GoTrueError(400, 'email_not_confirmed', 'Email not confirmed');
    case 'unauthorized':
      return noAuthorization();
    case 'invalid_token':
      // A mailed link (400 in offbase) vs an access token (401): GoTrue says otp_expired / bad_jwt.
      return e.statusCode === 400 ? new GoTrueError(403, 'otp_expired', 'Email link is invalid or has expired') : badJwt();
    case 'not_found':
      return new GoTrueError(404, 'user_not_found', 'User not found');
    case 'forbidden':
      return new GoTrueError(403, 'not_admin', e.message);
    case 'payload_too_large':
      return new GoTrueError(413, 'validation_failed', e.message);
    case 'unsupported_media_type':
      return new GoTrueError(415, 'validation_failed', e.message);
    case 'conflict':
      return new GoTrueError(409, 'conflict', e.message);
    case 'mfa_required':
      return new GoTrueError(403, 'insufficient_aal', 'AAL2 session is required to access this resource');
    case 'mfa_verification_failed':
      return new GoTrueError(422, 'mfa_verification_failed', 'Invalid TOTP code entered');
    case 'mfa_challenge_expired':
      return new GoTrueError(422, 'mfa_challenge_expired', 'MFA challenge has expired, verify against another challenge or create a new challenge.');
    default:
      return new GoTrueError(e.statusCode, e.statusCode >= 500 ? 'unexpected_failure' : 'validation_failed', e.message, {}, e.headers ?? {});
  }
}

/** Any error thrown while serving /auth/v1, as GoTrue would have answered it. */
export function toGoTrueError(error: unknown): GoTrueError {
  if (error instanceof GoTrueError) return error;
  if (error instanceof AppError) return fromAppError(error);
  if (isDatabaseUnavailable(error)) return new GoTrueError(503, 'unexpected_failure', 'The service is temporarily unavailable; try again shortly.', {}, { 'retry-after': '5' });
  // Anything else the native surface would classify (e.g. a value PostgreSQL refuses, such as
  // a NUL in user metadata, is the client's 400) is classified the same way here.
  const classified = toAppError(error);
  if (classified.statusCode < 500) return fromAppError(classified);
  return new GoTrueError(500, 'unexpected_failure', 'An unexpected error occurred.');
}
