import { Type, type TObject, type TSchema } from '@sinclair/typebox';
import type { PgColumn, PgTable } from 'drizzle-orm/pg-core';
import { createInsertSchema, createSelectSchema } from 'drizzle-typebox';
import { JsonValue } from '../lib/json-depth.js';

// TypeBox schemas of a resource, derived from its Drizzle table by drizzle-typebox, then
// adjusted to the API's conventions: nullable columns as `type: [t, 'null']` (an anyOf would
// let Ajv's coercion turn null into ""), text without NUL (PostgreSQL cannot store it), JSON
// depth-bounded, and bodies closed (`additionalProperties: false`).

export interface ResourceSchemas {
  /** A row as the native API returns it. */
  row: TObject;
  /** A create body: the writable columns, required where the database has no default. */
  create: TObject;
  /** A patch body: any writable column, at least one. */
  patch: TObject;
}

const NO_NUL = '^[^\\u0000]*$';

function adjust(schema: TSchema, forInput: boolean): TSchema {
  const any = schema.anyOf as TSchema[] | undefined;
  if (any?.length === 2 && any[1]!.type === 'null' && typeof any[0]!.type === 'string') {
    const inner = adjust(any[0]!, forInput);
    return Type.Unsafe({ ...inner, type: [inner.type, 'null'] });
  }
  // drizzle-typebox's JSON schema is an open union; a bounded unknown validates as much, safely.
  if (any || Object.keys(schema).length === 0) return JsonValue();
  if (forInput && schema.type === 'string' && !schema.format) return Type.String({ ...schema, pattern: NO_NUL });
  if (forInput && schema.type === 'array' && (schema.items as TSchema | undefined)?.type === 'string') {
    return Type.Array(Type.String({ pattern: NO_NUL }), { maxItems: 1000 });
  }
  return schema;
}

function pick(source: TObject, names: string[], forInput: boolean, overrides: Record<string, TSchema> = {}) {
  const properties: Record<string, TSchema> = {};
  for (const n of names) {
    const derived = source.properties[n];
    if (derived) properties[n] = overrides[n] ?? adjust(derived, forInput);
  }
  return properties;
}

export function deriveSchemas(table: PgTable, readable: Record<string, PgColumn>, writable: string[], overrides: Partial<ResourceSchemas> = {}): ResourceSchemas {
  const select = createSelectSchema(table) as unknown as TObject;
  const insert = createInsertSchema(table) as unknown as TObject;
  const required = new Set(insert.required ?? []);
  const row = overrides.row ?? Type.Object(pick(select, Object.keys(readable), false));
  const writableProps = pick(insert, writable, true);
  const create =
    overrides.create ??
    Type.Object(
      Object.fromEntries(Object.entries(writableProps).map(([k, s]) => [k, required.has(k) ? s : Type.Optional(s)])),
      { additionalProperties: false },
    );
  const patch = overrides.patch ?? Type.Partial(Type.Object(writableProps), { additionalProperties: false, minProperties: 1 });
  return { row, create, patch };
}
