import { and, not, or, sql, type SQL } from 'drizzle-orm';
import { PG_TYPE, type ColumnSpec, type ColumnType, type TableSpec } from './columns.js';
import type { Bound } from './bound.js';
import { coerceValue, invalid } from './values.js';

// A filter AST shaped after PostgREST's query grammar, so /rest/v1 can parse
// `?title=ilike.*x*&or=(status.eq.ready,not.tags.cs.{a})` into it and reuse this compiler.

export const OPERATORS = ['eq', 'neq', 'gt', 'gte', 'lt', 'lte', 'in', 'is', 'like', 'ilike', 'cs', 'cd', 'fts', 'plfts', 'phfts', 'wfts'] as const;
export type Operator = (typeof OPERATORS)[number];

export interface Condition {
  column: string;
  op: Operator;
  /** Raw value: a string from a query string or a JSON value; `in` takes an array, `is` null/true/false/'unknown'. */
  value: unknown;
  negate?: boolean;
  /** Text search configuration of the full-text operators (default english, as the documents.search column). */
  config?: string;
}
export interface AnyOf {
  or: Filter[];
  negate?: boolean;
}
export interface AllOf {
  and: Filter[];
  negate?: boolean;
}
export type Filter = Condition | AnyOf | AllOf;

const ORDERED: ColumnType[] = ['uuid', 'text', 'integer', 'bigint', 'numeric', 'timestamptz', 'boolean'];
const ALLOWED: Record<Operator, ColumnType[]> = {
  eq: [...ORDERED, 'text[]'],
  neq: [...ORDERED, 'text[]'],
  gt: ORDERED,
  gte: ORDERED,
  lt: ORDERED,
  lte: ORDERED,
  in: ORDERED,
  is: [...ORDERED, 'text[]', 'jsonb'],
  like: ['text'],
  ilike: ['text'],
  cs: ['text[]', 'jsonb'],
  fts: ['tsvector', 'text'],
  plfts: ['tsvector', 'text'],
  phfts: ['tsvector', 'text'],
  wfts: ['tsvector', 'text'],
  cd: ['text[]', 'jsonb'],
};
const COMPARE: Partial<Record<Operator, string>> = { eq: '=', neq: '<>', gt: '>', gte: '>=', lt: '<', lte: '<=', like: 'like', ilike: 'ilike', cs: '@>', cd: '<@' };
const TSQUERY = { fts: 'to_tsquery', plfts: 'plainto_tsquery', phfts: 'phraseto_tsquery', wfts: 'websearch_to_tsquery' } as const;
const MAX_IN = 1000;
const MAX_DEPTH = 8;

export function filterableColumn(table: TableSpec, name: string, field = name): ColumnSpec {
  const spec = Object.hasOwn(table.columns, name) ? table.columns[name] : undefined;
  if (!spec || spec.filterable === false) throw invalid(field, `is not a filterable column of ${table.name}`);
  return spec;
}

/** A PostgreSQL array literal: passed as one text parameter, never spliced into SQL. */
export const textArrayLiteral = (values: string[]) => `{${values.map((v) => `"${v.replace(/[\\"]/g, (c) => `\\${c}`)}"`).join(',')}}`;

/**
 * How a filter's values reach its SQL. `inline`: as parameters of this one statement. `key`:
 * nowhere; the walk only checks the filter and collects its values and its shape's key.
 * `placeholders`: as drizzle placeholders p<first>, p<first + 1>, ... in the order the values
 * were collected, for a statement rendered once per key and reused (bindFilters). One walk
 * serves all three, so the key, the values and the placeholders always agree.
 */
interface Walk {
  mode: 'inline' | 'key' | 'placeholders';
  key: string[];
  values: unknown[];
  first: number;
}

// Arrays and JSON travel as one text parameter with an explicit cast (drizzle would expand a
// JS array into a parameter list).
const encode = (spec: ColumnSpec, value: unknown): unknown =>
  spec.type === 'jsonb' ? JSON.stringify(value) : spec.type === 'text[]' ? textArrayLiteral(value as string[]) : value;

/** The value's SQL (a parameter with its cast), after recording it; undefined when only the key is wanted. */
function param(walk: Walk, type: string, value: unknown): SQL | undefined {
  const at = walk.values.push(value) - 1;
  if (walk.mode === 'key') return undefined;
  const bound = walk.mode === 'inline' ? value : sql.placeholder(`p${walk.first + at}`);
  return sql`${bound}::${sql.raw(type)}`;
}

function compileCondition(table: TableSpec, c: Condition, walk: Walk): SQL | undefined {
  const spec = filterableColumn(table, c.column);
  // hasOwn: an operator named `constructor` or `__proto__` must not find Object.prototype's.
  if (!Object.hasOwn(ALLOWED, c.op) || !ALLOWED[c.op].includes(spec.type)) throw invalid(c.column, `does not support the ${String(c.op)} operator`);
  const col = spec.column;
  const built = walk.mode !== 'key';
  switch (c.op) {
    case 'is': {
      if (c.value === null || c.value === 'null') {
        walk.key.push(`${JSON.stringify(c.column)} is null`);
        return built ? sql`${col} is null` : undefined;
      }
      if (spec.type === 'boolean' && ['true', 'false', 'unknown', true, false].includes(c.value as string)) {
        walk.key.push(`${JSON.stringify(c.column)} is ${String(c.value)}`);
        return built ? sql`${col} is ${sql.raw(String(c.value))}` : undefined;
      }
      throw invalid(c.column, 'is only accepts null (or true, false, unknown on booleans)');
    }
    case 'in': {
      if (!Array.isArray(c.value)) throw invalid(c.column, 'in needs a list of values');
      if (c.value.length > MAX_IN) throw invalid(c.column, `in accepts at most ${MAX_IN} values`);
      if (c.value.length === 0) {
        walk.key.push(`${JSON.stringify(c.column)} in ()`);
        return built ? sql`false` : undefined;
      }
      // One array parameter, whatever the list's length: `= any($n::type[])` is `in (...)`, and
      // its statement is the same for every list.
      const values = c.value.map((v, i) => String(coerceValue(spec.type, v, `${c.column}[${i}]`)));
      walk.key.push(`${JSON.stringify(c.column)} in`);
      const list = param(walk, `${PG_TYPE[spec.type]}[]`, textArrayLiteral(values));
      return list && sql`${col} = any(${list})`;
    }
    case 'fts':
    case 'plfts':
    case 'phfts':
    case 'wfts': {
      // PostgREST's full-text operators: to_tsquery, plainto_, phraseto_, websearch_to_tsquery.
      // The configuration travels as a regconfig parameter; an unknown one is PostgreSQL's 42704.
      const config = c.config ?? 'english';
      if (!/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(config)) throw invalid(c.column, 'text search configuration must be a name');
      if (typeof c.value !== 'string' || c.value.includes('\u0000')) throw invalid(c.column, 'full-text search needs a query string');
      walk.key.push(`${JSON.stringify(c.column)} ${c.op}`);
      const configParam = param(walk, 'regconfig', config);
      const queryParam = param(walk, 'text', c.value);
      if (!built) return undefined;
      const query = sql`${sql.raw(TSQUERY[c.op])}(${configParam}, ${queryParam})`;
      const document = spec.type === 'tsvector' ? sql`${col}` : sql`to_tsvector(${configParam}, ${col})`;
      return sql`${document} @@ ${query}`;
    }
    default: {
      if (c.value === null) throw invalid(c.column, `${c.op} does not take null; use is`);
      const value = coerceValue(spec.type, c.value, c.column);
      walk.key.push(`${JSON.stringify(c.column)} ${c.op}`);
      const bound = param(walk, PG_TYPE[spec.type], encode(spec, value));
      return bound && sql`${col} ${sql.raw(COMPARE[c.op]!)} ${bound}`;
    }
  }
}

function walkFilter(table: TableSpec, filter: Filter, walk: Walk, depth: number): SQL | undefined {
  if (depth > MAX_DEPTH) throw invalid('filter', `nests deeper than ${MAX_DEPTH} levels`);
  let compiled: SQL | undefined;
  if (filter.negate) walk.key.push('!');
  if ('or' in filter || 'and' in filter) {
    const parts = 'or' in filter ? filter.or : filter.and;
    if (!Array.isArray(parts) || parts.length === 0) throw invalid('filter', 'an and/or group needs at least one condition');
    walk.key.push('or' in filter ? 'or(' : 'and(');
    const children = parts.map((f) => walkFilter(table, f, walk, depth + 1));
    walk.key.push(')');
    if (walk.mode === 'key') return undefined;
    compiled = ('or' in filter ? or(...children) : and(...children))!;
  } else {
    compiled = compileCondition(table, filter, walk);
    if (walk.mode === 'key') return undefined;
  }
  return filter.negate ? not(compiled!) : sql`(${compiled})`;
}

export function compileFilter(table: TableSpec, filter: Filter): SQL {
  return walkFilter(table, filter, { mode: 'inline', key: [], values: [], first: 0 }, 0)!;
}

/**
 * Filters bound for a statement rendered once per shape: `key` names the SQL text (columns,
 * operators, nesting; never a value), `values` are the parameters in placeholder order, and
 * `sql(first)` builds the condition with placeholders p<first>... for them (first > 0 when
 * other bound conditions come before it). Checks the filters as compileFilters does.
 */
export function bindFilters(table: TableSpec, filters: Filter[]): Bound {
  const walk: Walk = { mode: 'key', key: [], values: [], first: 0 };
  for (const f of filters) {
    walkFilter(table, f, walk, 0);
    walk.key.push(';');
  }
  return {
    key: walk.key.join(' '),
    values: walk.values,
    sql: (first) => {
      if (!filters.length) return undefined;
      const build: Walk = { mode: 'placeholders', key: [], values: [], first };
      return and(...filters.map((f) => walkFilter(table, f, build, 0)));
    },
  };
}

/** All filters AND-ed together; undefined when there are none. */
export function compileFilters(table: TableSpec, filters: Filter[]): SQL | undefined {
  return filters.length ? and(...filters.map((f) => compileFilter(table, f))) : undefined;
}
