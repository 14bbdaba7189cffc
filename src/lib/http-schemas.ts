import { Type, type Static, type TSchema } from '@sinclair/typebox';

// Schemas every JSON route shares: ids, timestamps, nullable columns. The error shape is in
// errors/responses.ts.

export const Uuid = Type.String({ format: 'uuid' });
/**
 * Text that is well-formed UTF-16: no lone surrogate (`"\udfff"` is valid JSON), which
 * encodeURIComponent throws on and UTF-8 cannot carry. For free text that goes into URIs,
 * emails or headers. Ajv compiles patterns with the `u` flag, where \p{Cs} matches only a
 * surrogate that is not half of a pair.
 */
export const WellFormedText = (options: { minLength?: number; maxLength: number }) => Type.String({ ...options, pattern: '^\\P{Cs}*$' });
export const IdParams = Type.Object({ id: Uuid });
/** RFC 3339 UTC with microseconds (lib/timestamp.ts): 2026-01-02T03:04:05.123456Z. */
export const Timestamp = Type.String({ format: 'date-time' });
/**
 * `type: [t, 'null']` rather than anyOf: with Ajv's type coercion an anyOf would turn null
 * into "" (string branch) or 0 into null (null branch); a type list coerces neither.
 */
export function Nullable<T extends TSchema>(schema: T) {
  if (typeof schema.type !== 'string') throw new Error('Nullable needs a schema with a single type');
  return Type.Unsafe<Static<T> | null>({ ...schema, type: [schema.type, 'null'] });
}
