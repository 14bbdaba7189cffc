import { and, type SQL } from 'drizzle-orm';

/**
 * A condition for a statement rendered once and reused: what its SQL text depends on (`key`),
 * its values in placeholder order, and the condition itself with placeholders p<first>,
 * p<first + 1>, ... for them. The same key always renders the same text, so a statement cache
 * keyed by it (src/resources/queries.ts) only binds `values` per call. Made by bindFilters
 * (filter.ts) and keysetBound (cursor.ts).
 */
export interface Bound {
  key: string;
  values: unknown[];
  sql(first: number): SQL | undefined;
}

export const isBound = (where: unknown): where is Bound => typeof where === 'object' && where !== null && typeof (where as Bound).sql === 'function' && Array.isArray((where as Bound).values);

/** Every condition ANDed, in order: each one's placeholders follow those of the ones before it. */
export function allOf(...parts: (Bound | undefined)[]): Bound | undefined {
  const present = parts.filter((p): p is Bound => p !== undefined);
  if (present.length <= 1) return present[0];
  return {
    key: present.map((p) => p.key).join(' & '),
    values: present.flatMap((p) => p.values),
    sql: (first) => {
      let at = first;
      return and(
        ...present.map((p) => {
          const built = p.sql(at);
          at += p.values.length;
          return built;
        }),
      );
    },
  };
}

/** The placeholders' values by name (p<first>, ...), as drizzle's prepared statements take them. */
export function boundValues(bound: Bound | undefined, into: Record<string, unknown>, first = 0): Record<string, unknown> {
  if (bound) for (let i = 0; i < bound.values.length; i++) into[`p${first + i}`] = bound.values[i];
  return into;
}
