import { AppError } from '../errors/app-error.js';
import { depthMessage, jsonTooDeep } from '../lib/json-depth.js';
import { isUuid } from '../lib/uuid.js';
import type { ColumnType } from './columns.js';

// Turns untrusted values (query-string text or JSON) into values PostgreSQL will accept for
// a column type, or a 400. Everything that could make the database raise a data error
// (22P02 bad uuid, 22008 timestamp out of range, ...) is caught here first.

const INT = /^-?\d{1,19}$/;
const DECIMAL = /^-?\d{1,30}(\.\d{1,30})?$/;
// ISO 8601 / RFC 3339, plus PostgreSQL's own text output ("2026-01-02 03:04:05.123456+00").
const TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,6})?)?(Z|z|[+-]\d{2}(?::?\d{2})?)?)?$/;

export function invalid(field: string, message: string): AppError {
  return new AppError('validation_failed', { message: `${field} ${message}`, details: [{ field, message }] });
}

/** True for a real calendar timestamp in the formats above (rejects 2024-02-30, 25:00...). */
export function isTimestamp(value: unknown): value is string {
  if (typeof value !== 'string') return false;
  const m = TIMESTAMP.exec(value);
  if (!m) return false;
  const [, y, mo, d, h = '0', mi = '0', s = '0'] = m;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  if (year < 1 || month < 1 || month > 12 || day < 1) return false;
  if (day > new Date(Date.UTC(year, month, 0)).getUTCDate()) return false;
  return Number(h) <= 23 && Number(mi) <= 59 && Number(s) <= 59;
}

export function coerceValue(type: ColumnType, value: unknown, field: string): unknown {
  switch (type) {
    case 'uuid':
      if (!isUuid(value)) throw invalid(field, 'must be a uuid');
      return value.toLowerCase();
    case 'text':
      if (typeof value === 'number' || typeof value === 'boolean') return String(value);
      if (typeof value !== 'string') throw invalid(field, 'must be a string');
      if (value.includes('\u0000')) throw invalid(field, 'must not contain NUL characters');
      return value;
    case 'integer':
    case 'bigint': {
      const text = typeof value === 'number' ? String(value) : value;
      if (typeof text !== 'string' || !INT.test(text)) throw invalid(field, 'must be an integer');
      const n = BigInt(text);
      const bound = type === 'integer' ? 2n ** 31n : 2n ** 63n;
      if (n < -bound || n >= bound) throw invalid(field, 'is out of range');
      return text;
    }
    case 'numeric': {
      const text = typeof value === 'number' && Number.isFinite(value) ? String(value) : value;
      if (typeof text !== 'string' || !DECIMAL.test(text)) throw invalid(field, 'must be a decimal number');
      return text;
    }
    case 'timestamptz':
      if (!isTimestamp(value)) throw invalid(field, 'must be an ISO 8601 timestamp');
      return value;
    case 'boolean':
      if (value === true || value === 'true') return true;
      if (value === false || value === 'false') return false;
      throw invalid(field, 'must be true or false');
    case 'text[]': {
      if (!Array.isArray(value)) throw invalid(field, 'must be an array of strings');
      return value.map((v, i) => coerceValue('text', v, `${field}[${i}]`));
    }
    case 'tsvector':
      // Only the full-text operators reach a tsvector column, with the query text as value.
      return coerceValue('text', value, field);
    case 'jsonb': {
      let json = value;
      if (typeof value === 'string') {
        try {
          json = JSON.parse(value);
        } catch {
          throw invalid(field, 'must be JSON');
        }
      }
      // The value travels as JSON text (JSON.stringify, recursive): bounded like every JSON field.
      if (jsonTooDeep(json)) throw invalid(field, depthMessage());
      return json;
    }
  }
}
