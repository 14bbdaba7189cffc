import { Type, type ObjectOptions, type SchemaOptions } from '@sinclair/typebox';
import type { FastifyServerOptions } from 'fastify';

// JSON fields hold the client's own JSON (documents.metadata, analyses.result, preferences,
// user metadata). Their nesting is bounded: a 5,000-level value fits in 60 KB, and every
// recursive walk over it (JSON.stringify for the database and the audit trail, a response
// serializer) would overflow the stack. The check below is iterative, so checking costs no
// stack however deep the value is.

/** How many levels of objects and arrays a JSON field may nest: `{"a":{"b":[1]}}` is 3. */
export const JSON_MAX_DEPTH = 32;

/**
 * True when `value` nests objects and arrays more than `limit` levels deep (a scalar is 0
 * levels, `{}` and `[]` are 1). Walks without recursion and stops at the first branch too deep.
 */
export function jsonTooDeep(value: unknown, limit = JSON_MAX_DEPTH): boolean {
  if (value === null || typeof value !== 'object') return false;
  const values: object[] = [value];
  const depths: number[] = [1];
  while (values.length) {
    const node = values.pop()!;
    const depth = depths.pop()!;
    if (depth > limit) return true;
    const children = Array.isArray(node) ? node : Object.values(node);
    for (const child of children) {
      if (child !== null && typeof child === 'object') {
        values.push(child);
        depths.push(depth + 1);
      }
    }
  }
  return false;
}

export const depthMessage = (limit = JSON_MAX_DEPTH) => `must not nest objects and arrays more than ${limit} levels deep`;

// The route validator's Ajv (v8, inside Fastify), typed through Fastify's own options.
type AjvPlugin = Extract<NonNullable<NonNullable<FastifyServerOptions['ajv']>['plugins']>[number], (...args: never[]) => unknown>;
type Ajv = Parameters<AjvPlugin>[0];

/**
 * Ajv plugin (app.ts registers it on the route validator): the `maxDepth` keyword, which the
 * JSON field schemas below carry. Errors name the field as any other validation error does
 * (`body.metadata`), in each surface's own error shape.
 */
export function maxDepthKeyword(ajv: Ajv): Ajv {
  const validate = (limit: number, data: unknown): boolean => {
    if (!jsonTooDeep(data, limit)) return true;
    validate.errors = [{ keyword: 'maxDepth', message: depthMessage(limit), params: { limit } }];
    return false;
  };
  validate.errors = undefined as { keyword: string; message: string; params: Record<string, unknown> }[] | undefined;
  return ajv.addKeyword({ keyword: 'maxDepth', schemaType: 'number', errors: true, validate });
}

const bounded = { maxDepth: JSON_MAX_DEPTH, description: `Objects and arrays nest at most ${JSON_MAX_DEPTH} levels deep.` };

/** A request field holding any JSON value, nesting at most JSON_MAX_DEPTH levels. */
export const JsonValue = (options: SchemaOptions = {}) => Type.Unknown({ ...bounded, ...options });

/** A request field holding a JSON object (string keys, any values), nesting at most JSON_MAX_DEPTH levels. */
export const JsonObject = (options: ObjectOptions = {}) => Type.Record(Type.String(), Type.Unknown(), { ...bounded, ...options });
