import { AppError, sqlState } from '../errors.js';

// Data errors PostgreSQL raises about a value (class 22: bad text for a type, out of range,
// NUL in text or jsonb, ...) and check violations (23514) are the client's fault: 400, not 500.
// Validation should catch them first; this is the net under it.
export function clientDataError(error: unknown): AppError | null {
  const state = sqlState(error);
  if (!state) return null;
  if (state.startsWith('22') || state === '23514') {
    return new AppError('validation_failed', 'A value is invalid for its column.', [{ field: 'body', message: 'contains a value the database rejects' }]);
  }
  if (state === '23505') return new AppError('conflict');
  if (state === '23503') return new AppError('not_found');
  return null;
}
