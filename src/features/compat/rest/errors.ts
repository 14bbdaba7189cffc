import { AppError } from '../../../errors/app-error.js';
import { isDatabaseUnavailable, isTransactionConflict, sqlState } from '../../../errors/database.js';
import { toAppError } from '../../../errors/http.js';

// PostgREST's error body: {code, message, details, hint}, with PostgREST's codes and statuses
// (docs.postgrest.org, "Errors"). supabase-js hands this object to the caller as `error`,
// so frontends that branch on error.code ('PGRST116', '23505', ...) keep working.

export interface PostgrestErrorBody {
  code: string;
  message: string;
  details: string | null;
  hint: string | null;
}

export class PostgrestError extends Error {
  override name = 'PostgrestError';
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    readonly details: string | null = null,
    readonly hint: string | null = null,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }

  toJSON(): PostgrestErrorBody {
    return { code: this.code, message: this.message, details: this.details, hint: this.hint };
  }
}

/** PGRST100: the query string does not parse. */
export const parseError = (message: string, details: string | null = null) => new PostgrestError(400, 'PGRST100', message, details);

/** 42703: a column the table does not have (or that this surface does not expose). */
export const unknownColumn = (table: string, column: string) => new PostgrestError(400, '42703', `column ${table}.${column} does not exist`);

/** PGRST204: a body or `columns=` key that is not a column. */
export const unknownBodyColumn = (table: string, column: string) =>
  new PostgrestError(400, 'PGRST204', `Could not find the '${column}' column of '${table}' in the schema cache`);

/** PGRST205: a table outside the allowlist. */
export const unknownTable = (table: string) =>
  new PostgrestError(404, 'PGRST205', `Could not find the table 'public.${table}' in the schema cache`, null, null);

/** PGRST200: an embedding with no relationship behind it. */
export const unknownRelationship = (from: string, to: string) =>
  new PostgrestError(
    400,
    'PGRST200',
    `Could not find a relationship between '${from}' and '${to}' in the schema cache`,
    `Searched for a foreign key relationship between '${from}' and '${to}' in the schema 'public', but no matches were found.`,
  );

/** PGRST116: `Accept: application/vnd.pgrst.object+json` and not exactly one row. */
export const notSingular = (rows: number) =>
  new PostgrestError(406, 'PGRST116', 'Cannot coerce the result to a single JSON object', `The result contains ${rows} rows`);

/** 42501 with owner-only row-level security: 401 for the anonymous role, 403 for a signed-in user. */
export const rlsViolation = (table: string, anonymous: boolean) =>
  new PostgrestError(anonymous ? 401 : 403, '42501', `new row violates row-level security policy for table "${table}"`);

export const invalidRange = (details: string) => new PostgrestError(416, 'PGRST103', 'Requested range not satisfiable', details);

export const invalidBody = (message = 'Empty or invalid json') => new PostgrestError(400, 'PGRST102', message);

export const unacceptable = (accept: string) => new PostgrestError(406, 'PGRST107', `None of these media types are available: ${accept}`);

/**
 * PostgreSQL's own error for a statement that PostgREST would run and the database would
 * refuse. PostgREST's status table: 23505 and 23503 are 409, other classes 400.
 */
export const databaseError = (code: string, message: string, details: string | null = null) =>
  new PostgrestError(code === '23505' || code === '23503' ? 409 : 400, code, message, details);

// offbase's own error codes, as PostgREST would have reported the same situation.
const FROM_APP: Partial<Record<AppError['code'], (e: AppError) => PostgrestError>> = {
  validation_failed: (e) => new PostgrestError(400, '22P02', e.message, detailsOf(e)),
  invalid_json: () => invalidBody(),
  conflict: (e) => new PostgrestError(409, '23505', 'duplicate key value violates unique constraint', detailsOf(e) ?? e.message),
  not_found: (e) => new PostgrestError(404, 'PGRST205', e.message),
  payload_too_large: (e) => new PostgrestError(413, 'PGRST102', e.message),
  unsupported_media_type: () => new PostgrestError(415, 'PGRST107', 'The Content-Type is not supported'),
  not_acceptable: (e) => new PostgrestError(406, 'PGRST107', e.message),
  unauthorized: () => new PostgrestError(401, 'PGRST301', 'No suitable key or wrong key type'),
  invalid_token: () => new PostgrestError(401, 'PGRST301', 'JWT expired or invalid'),
  forbidden: (e) => new PostgrestError(403, '42501', e.message),
  // An aal1 session of a user with a second factor: as an RLS policy requiring aal2 would refuse it.
  mfa_required: (e) => new PostgrestError(403, '42501', e.message, null, 'Complete MFA (auth.mfa.challengeAndVerify) to reach data.'),
  rate_limited: (e) => new PostgrestError(429, 'PGRST000', e.message),
  method_not_allowed: () => new PostgrestError(405, 'PGRST117', 'Unsupported HTTP method'),
};

function detailsOf(e: AppError): string | null {
  if (!e.details?.length) return null;
  return e.details.map((d) => (d.field ? `${d.field}: ${d.message}` : d.message)).join('; ');
}

/** PostgreSQL's own message for a driver error; drizzle's wrapper message quotes the SQL and its parameters, so it never goes out. */
function driverMessage(error: unknown, fallback: string): string {
  const e = error as { message?: string; cause?: { message?: string } };
  return e.cause?.message ?? (e.message?.startsWith('Failed query') ? undefined : e.message) ?? fallback;
}

/** Any error thrown while serving /rest/v1, as the status and body PostgREST would answer with. */
export function toPostgrestError(error: unknown): PostgrestError {
  if (error instanceof PostgrestError) return error;
  if (error instanceof AppError) {
    const map = FROM_APP[error.code];
    if (map) return map(error);
    if (error.statusCode >= 500) return new PostgrestError(error.statusCode, error.statusCode === 503 ? 'PGRST001' : 'XX000', error.message, null, null, error.headers ?? {});
    return new PostgrestError(error.statusCode, 'PGRST000', error.message);
  }
  if (isDatabaseUnavailable(error)) return new PostgrestError(503, 'PGRST001', 'Database client error. Retrying the connection.', null, null, { 'retry-after': '5' });
  const state = sqlState(error);
  // Only classes the client caused get PostgreSQL's code and message; anything else is a 500
  // whose text stays in the log.
  // (42601 is to_tsquery's "syntax error in tsquery" for a malformed fts value; 42704 an
  // unknown text search configuration in fts(<config>).)
  if (state && (/^(22|23)/.test(state) || state === '42601' || state === '42704')) {
    const e = error as { detail?: string; cause?: { detail?: string } };
    return databaseError(state, driverMessage(error, 'invalid input'), e.cause?.detail ?? e.detail ?? null);
  }
  // A transaction PostgreSQL rolled back for a deadlock or a serialization failure: PostgREST
  // answers 500 (and retries 40001 itself); here it is a 409 with PostgreSQL's code and message
  // (never its detail, which names processes and locks), as nothing was written and the same
  // request can be sent again.
  if (isTransactionConflict(error)) {
    return new PostgrestError(409, state!, driverMessage(error, 'the transaction was rolled back by a concurrent one'), null, 'Nothing was written; send the request again.');
  }
  // Anything else the native surface classifies as the client's (input too deep or too
  // complex, a plugin's 4xx) is classified the same way here.
  const classified = toAppError(error);
  if (classified.statusCode < 500) return toPostgrestError(classified);
  return new PostgrestError(500, 'XX000', 'An unexpected error occurred.');
}
