import { AppError, type ErrorDetail } from './app-error.js';

// What a driver or PostgreSQL error means for the client: the database is away for now
// (503), the input was refused (400), or a bug (left for the handler's 500).

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
const SQLSTATE = /^[0-9A-Z]{5}$/;

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
    return UNAVAILABLE_ERRNO.has(code) || (SQLSTATE.test(code) && UNAVAILABLE_SQLSTATE.test(code));
  });
}

/** The PostgreSQL SQLSTATE of a driver error, looking through drizzle's wrapper. */
export function sqlState(error: unknown): string | undefined {
  for (const e of causes(error)) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && SQLSTATE.test(code)) return code;
  }
  return undefined;
}

/**
 * Class 40 (transaction rollback): a serialization failure (40001) or a deadlock (40P01).
 * PostgreSQL rolled the transaction back because a concurrent one touched the same rows; nothing
 * was written, and the same request sent again will normally succeed: the client's 409, not a 500.
 */
export const isTransactionConflict = (error: unknown): boolean => sqlState(error)?.startsWith('40') ?? false;

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

/**
 * Class 22 (data exception): PostgreSQL refusing a value, such as NUL or a lone surrogate in
 * text/jsonb, bad text for a type, or a number out of range. The client's input, never a 500.
 */
export const isDataException = (error: unknown): boolean => sqlState(error)?.startsWith('22') ?? false;

const valueRejected = (details?: ErrorDetail[]) =>
  new AppError('validation_failed', { message: 'A value is invalid for its column.', ...(details ? { details } : {}) });

/** The net under validation anywhere: a value PostgreSQL refused (class 22) as a 400. */
export function rejectedInput(error: unknown): AppError | null {
  return isDataException(error) ? valueRejected() : null;
}

/**
 * The net under validation for a write transaction, whose values come from the body: class 22
 * and check violations (23514) are a 400, a unique violation a conflict, a missing referenced
 * row a 404.
 */
export function clientDataError(error: unknown): AppError | null {
  const state = sqlState(error);
  if (!state) return null;
  if (isDataException(error) || state === '23514') return valueRejected([{ field: 'body', message: 'contains a value the database rejects' }]);
  if (state === '23505') return new AppError('conflict');
  if (state === '23503') return new AppError('not_found');
  return null;
}
