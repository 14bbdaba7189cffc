// Prototype pollution checks shared by the regression tests and the fuzzer: the names a
// hostile client uses, and the state of the built-ins a polluted lookup could write to.

/** Names that a plain-object lookup would find on Object.prototype (or use to reach it). */
export const PROTO_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty'] as const;

/** Own property names of the built-ins, functions on Object.prototype included (`hasOwnProperty.limit=1` writes to one). */
export function builtinsSnapshot(): string {
  const targets: [string, object][] = [
    ['Object.prototype', Object.prototype],
    ['Object', Object],
    ['Function.prototype', Function.prototype],
    ['Array.prototype', Array.prototype],
    ['String.prototype', String.prototype],
  ];
  for (const name of Object.getOwnPropertyNames(Object.prototype)) {
    const value = (Object.prototype as Record<string, unknown>)[name];
    if (typeof value === 'function') targets.push([`Object.prototype.${name}`, value]);
  }
  return targets.map(([name, target]) => `${name}: ${Reflect.ownKeys(target).map(String).sort().join(',')}`).join('\n');
}

/** Undoes what a polluting request wrote, so one failure does not make every later test fail too. */
export function scrubBuiltins(): void {
  for (const key of Object.keys(Object.prototype)) delete (Object.prototype as Record<string, unknown>)[key];
  for (const name of Object.getOwnPropertyNames(Object.prototype)) {
    const value = (Object.prototype as Record<string, unknown>)[name];
    if (typeof value === 'function') for (const key of Object.keys(value)) delete (value as unknown as Record<string, unknown>)[key];
  }
}
