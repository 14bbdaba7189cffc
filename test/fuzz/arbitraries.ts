import fc from 'fast-check';
import { PROTO_KEYS } from '../helpers/prototypes.js';
import type { JsonSchema } from './route-list.js';

// Values a hostile or broken client sends. Each is a string, so it fits a path segment, a
// query value, a header or a JSON field.
export const NASTY_STRINGS = [
  '', ' ', '0', '-1', '1e309', 'NaN', 'Infinity', 'null', 'undefined', 'true', '[]', '{}', '[object Object]',
  "' OR '1'='1", "'; drop table documents; --", '" OR ""="', '1; select pg_sleep(5)', '$1', '\\', '\\\\', '%', '%%', '%ZZ', '%00', '%ED%A0%80', '%C0%AF', '%FF',
  '\u0000', 'a\u0000b', '../../etc/passwd', '..%2f..%2f', '__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty',
  '<script>alert(1)</script>', '${jndi:ldap://x}', '{{7*7}}', '\ud800', '\udfff', '\ufeff', '\u202e', '🦄'.repeat(50), 'ñ', 'Ω≈ç√',
  '&|!:*', '!!!', '"""', '(((', ':*', 'or', 'and', '-', '"unclosed', '00000000-0000-0000-0000-000000000000', 'ffffffff-ffff-ffff-ffff-ffffffffffffff',
  '2024-02-30T00:00:00Z', '9999-99-99', '-infinity', 'epoch', 'a'.repeat(600), 'x'.repeat(70_000),
];

export const nastyString = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...NASTY_STRINGS) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 200 }) },
  { weight: 1, arbitrary: fc.uuid() },
);

/** A name that a plain-object lookup would find on Object.prototype. */
export const protoKey = fc.constantFrom(...PROTO_KEYS);

/** An own, enumerable key on a plain object, even `__proto__` (plain assignment would set the prototype instead). */
export function defineKey(target: Record<string, unknown>, key: string, value: unknown): Record<string, unknown> {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  return target;
}

/** JSON objects whose keys are prototype names, at any depth: `{"constructor":{"prototype":{"polluted":"yes"}}}`. */
export const protoJson: fc.Arbitrary<Record<string, unknown>> = fc
  .array(fc.tuple(protoKey, fc.constantFrom<unknown>('yes', 1, null, [], ['x'])), { minLength: 1, maxLength: 4 })
  .map((path) => path.reduceRight<Record<string, unknown>>((inner, [key, leaf]) => defineKey({ polluted: leaf }, key, inner), { polluted: 'yes' }));

/**
 * Query pairs that put a prototype name in every position of a query string, for the
 * native routes (an unknown parameter) and PostgREST's grammar on /rest/v1 alike: the key,
 * a dotted embedding path, a filter column, an operator, an order term, a select alias
 * or relation, on_conflict and columns.
 */
export const protoQueryPair: fc.Arbitrary<[string, string]> = fc.tuple(protoKey, protoKey, fc.constantFrom('title', 'status', 'id', 'analyses')).chain(([p, q, column]) =>
  fc.constantFrom<[string, string]>(
    [p, '1'],
    [p, 'eq.x'],
    [`${p}.offset`, '1'],
    [`${p}.limit`, '1'],
    [`${p}.order`, column],
    [`${p}.or`, `(${column}.eq.x)`],
    [`${p}.not.and`, `(${column}.eq.x)`],
    [`${p}.${q}`, 'eq.x'],
    [`${p}.${column}`, 'eq.x'],
    [`analyses.${p}`, 'eq.x'],
    [column, `${p}.x`],
    [column, `not.${p}.x`],
    ['or', `(${p}.eq.x,${column}.${q}.y)`],
    ['order', `${p}.desc`],
    ['select', `${p}:${column},${q}`],
    ['select', `id,${p}:analyses(${q})`],
    ['select', `*,${p}(*)`],
    ['on_conflict', p],
    ['columns', `${p},${q}`],
  ),
);

/** A Prefer header naming prototype keys among real preferences. */
export const protoPrefer = fc.tuple(protoKey, fc.constantFrom('x', 'representation', 'exact', 'strict'), fc.boolean()).map(([k, v, strict]) => `${strict ? 'handling=strict, ' : ''}${k}=${v}, return=representation`);

/** Any JSON value, including the shapes parsers and validators trip on. */
export const nastyJson: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: nastyString },
  { weight: 2, arbitrary: fc.oneof(fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.constantFrom(0, -1, 2 ** 31, 2 ** 53 + 1, -(2 ** 63), 1e308)) },
  { weight: 1, arbitrary: fc.constantFrom(null, true, false, [], {}) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  { weight: 1, arbitrary: fc.array(nastyString, { maxLength: 5 }) },
);

/** Raw bodies JSON.stringify would never produce: broken syntax, pollution keys, deep nesting. */
export const rawBodies = fc.constantFrom(
  '{', '{"a":', '[1,2', 'null', '"str"', '123', 'true', '{"a":1,"a":2}', '\u0000', '{"title":"\\u0000"}',
  '{"__proto__":{"polluted":"yes"}}', '{"constructor":{"prototype":{"polluted":"yes"}}}', '{"__proto__":null}',
  '['.repeat(5000) + ']'.repeat(5000), '{"a":'.repeat(2000) + '1' + '}'.repeat(2000), `{"x":"${'y'.repeat(2 * 1024 * 1024)}"}`,
  '\ufeff{}', '{"title": NaN}', '{"title": Infinity}', "{'single':'quotes'}",
  '[{"__proto__":{"polluted":"yes"}}]', '{"metadata":{"__proto__":{"polluted":"yes"}}}', '{"data":{"constructor":{"prototype":{"polluted":"yes"}}}}',
  '{"constructor":{"prototype":null}}', '{"toString":"x","hasOwnProperty":1,"valueOf":[],"prototype":{}}', '{"preferences":{"toString":{"constructor":1}}}',
);

/** Values that satisfy (or nearly satisfy) a JSON Schema, so requests get past validation. */
export function fromSchema(schema: JsonSchema | undefined, ids: fc.Arbitrary<string>, depth = 0): fc.Arbitrary<unknown> {
  if (!schema || depth > 4) return nastyJson;
  const s = schema as Record<string, never> & JsonSchema;
  if ('const' in s) return fc.constant(s.const);
  if (Array.isArray(s.enum)) return fc.constantFrom(...(s.enum as unknown[]));
  const union = (s.anyOf ?? s.oneOf) as JsonSchema[] | undefined;
  if (union?.length) return fc.oneof(...union.map((u) => fromSchema(u, ids, depth + 1)));
  const type = Array.isArray(s.type) ? (s.type as string[]) : [s.type as string | undefined];
  const arbs = type.map((t) => byType(t, s, ids, depth));
  return arbs.length === 1 ? arbs[0]! : fc.oneof(...arbs);
}

function byType(type: string | undefined, s: JsonSchema, ids: fc.Arbitrary<string>, depth: number): fc.Arbitrary<unknown> {
  switch (type) {
    case 'null':
      return fc.constant(null);
    case 'boolean':
      return fc.boolean();
    case 'integer':
      return fc.integer({ min: (s.minimum as number) ?? -1000, max: (s.maximum as number) ?? 1_000_000 });
    case 'number':
      return fc.double({ min: (s.minimum as number) ?? -1e6, max: (s.maximum as number) ?? 1e9, noNaN: true });
    case 'string':
      return stringFor(s, ids);
    case 'array':
      return fc.array(fromSchema(s.items as JsonSchema, ids, depth + 1), { maxLength: Math.min((s.maxItems as number) ?? 5, 5), minLength: Math.min((s.minItems as number) ?? 0, 5) });
    case 'object': {
      const props = (s.properties ?? {}) as Record<string, JsonSchema>;
      if (Object.keys(props).length === 0) return fc.dictionary(fc.string({ maxLength: 10 }), nastyJson, { maxKeys: 4 });
      const model: Record<string, fc.Arbitrary<unknown>> = {};
      for (const [k, v] of Object.entries(props)) model[k] = fromSchema(v, ids, depth + 1);
      return fc.record(model, { requiredKeys: (s.required as string[]) ?? [] });
    }
    default:
      return nastyJson;
  }
}

function stringFor(s: JsonSchema, ids: fc.Arbitrary<string>): fc.Arbitrary<string> {
  const min = (s.minLength as number) ?? 0;
  const max = Math.min((s.maxLength as number) ?? 64, 300);
  switch (s.format) {
    case 'uuid':
      return ids;
    case 'email':
      return fc.emailAddress();
    case 'date-time':
      return fc.date({ min: new Date('1900-01-01'), max: new Date('2200-01-01'), noInvalidDate: true }).map((d) => d.toISOString());
  }
  if (typeof s.pattern === 'string') {
    try {
      return fc.stringMatching(new RegExp(s.pattern)).filter((v) => v.length >= min && v.length <= Math.max(max, min));
    } catch {
      // a pattern JavaScript cannot compile: fall through to free text
    }
  }
  // Valid length, hostile content: NUL bytes, lone surrogates, SQL, markup.
  return fc
    .oneof(fc.string({ unit: 'binary', minLength: min, maxLength: max }), fc.string({ unit: 'grapheme', minLength: min, maxLength: max }), fc.constantFrom(...NASTY_STRINGS))
    .map((v) => (v.length < min ? v.padEnd(min, 'x') : v.length > max ? v.slice(0, max) : v));
}

/**
 * A schema-valid value, then one mutation: a wrong-typed field, an unknown field, a dropped
 * one, a prototype name as a top-level key, or prototype names inside a field (a JSON field
 * such as metadata takes them as plain keys).
 */
export function mutatedBody(schema: JsonSchema | null, ids: fc.Arbitrary<string>): fc.Arbitrary<unknown> {
  const base = fromSchema(schema ?? undefined, ids);
  return fc.tuple(base, fc.nat(6), fc.string({ maxLength: 12 }), nastyJson, protoKey, protoJson).map(([value, kind, key, junk, proto, protoValue]) => {
    if (!value || typeof value !== 'object' || Array.isArray(value)) return value;
    const obj = { ...(value as Record<string, unknown>) };
    const keys = Object.keys(obj);
    if (kind === 1 && keys.length) defineKey(obj, keys[key.length % keys.length]!, junk);
    if (kind === 2) defineKey(obj, key || 'owner_id', junk);
    if (kind === 3 && keys.length) delete obj[keys[0]!];
    if (kind === 5) defineKey(obj, proto, junk);
    if (kind === 6) defineKey(obj, keys.length ? keys[key.length % keys.length]! : proto, protoValue);
    return obj; // kind 0 and 4: untouched
  });
}
