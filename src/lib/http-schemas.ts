import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { ERROR_CODES, type ErrorCode } from '../errors.js';

// Schemas every JSON route shares: the one error shape, ids, timestamps.

export const ErrorResponse = Type.Object(
  {
    code: Type.String(),
    message: Type.String(),
    request_id: Type.String(),
    details: Type.Optional(
      Type.Array(Type.Object({ field: Type.Optional(Type.String()), message: Type.String() }, { additionalProperties: true })),
    ),
  },
);

/** `{ 400: ErrorResponse, 404: ErrorResponse, ... }` for the codes a route can answer with. */
export function errorResponses(...codes: ErrorCode[]): Record<number, TSchema> {
  const statuses = new Set<number>([400, 401, 429, 500, 503, ...codes.map((c) => ERROR_CODES[c])]);
  return Object.fromEntries([...statuses].map((s) => [s, ErrorResponse]));
}

export const Uuid = Type.String({ format: 'uuid' });
export const IdParams = Type.Object({ id: Uuid });
export const Timestamp = Type.String({ format: 'date-time' });
/**
 * `type: [t, 'null']` rather than anyOf: with Ajv's type coercion an anyOf would turn null
 * into "" (string branch) or 0 into null (null branch); a type list coerces neither.
 */
export function Nullable<T extends TSchema>(schema: T) {
  if (typeof schema.type !== 'string') throw new Error('Nullable needs a schema with a single type');
  return Type.Unsafe<Static<T> | null>({ ...schema, type: [schema.type, 'null'] });
}

/** PostgreSQL's timestamptz text ("2026-01-02 03:04:05.123456+00") as RFC 3339, keeping microseconds. */
export function isoTimestamp(value: string): string;
export function isoTimestamp(value: string | null): string | null;
export function isoTimestamp(value: string | null): string | null {
  if (value === null) return null;
  return value.replace(' ', 'T').replace(/([+-]\d{2})$/, '$1:00');
}
