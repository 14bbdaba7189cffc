import { and, not, or, sql, type SQL } from 'drizzle-orm';
import { PG_TYPE, type ColumnSpec, type ColumnType, type TableSpec } from './columns.js';
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

// Arrays and JSON travel as one text parameter with an explicit cast (drizzle would expand a
// JS array into a parameter list).
function param(spec: ColumnSpec, value: unknown): SQL {
  if (spec.type === 'jsonb') return sql`${JSON.stringify(value)}::jsonb`;
  if (spec.type === 'text[]') return sql`${textArrayLiteral(value as string[])}::text[]`;
  return sql`${value}::${sql.raw(PG_TYPE[spec.type])}`;
}

function compileCondition(table: TableSpec, c: Condition): SQL {
  const spec = filterableColumn(table, c.column);
  // hasOwn: an operator named `constructor` or `__proto__` must not find Object.prototype's.
  if (!Object.hasOwn(ALLOWED, c.op) || !ALLOWED[c.op].includes(spec.type)) throw invalid(c.column, `does not support the ${String(c.op)} operator`);
  const col = spec.column;
  switch (c.op) {
    case 'is': {
      if (c.value === null || c.value === 'null') return sql`${col} is null`;
      if (spec.type === 'boolean' && ['true', 'false', 'unknown', true, false].includes(c.value as string)) {
        return sql`${col} is ${sql.raw(String(c.value))}`;
      }
      throw invalid(c.column, 'is only accepts null (or true, false, unknown on booleans)');
    }
    case 'in': {
      if (!Array.isArray(c.value)) throw invalid(c.column, 'in needs a list of values');
      if (c.value.length > MAX_IN) throw invalid(c.column, `in accepts at most ${MAX_IN} values`);
      if (c.value.length === 0) return sql`false`;
      const values = c.value.map((v, i) => param(spec, coerceValue(spec.type, v, `${c.column}[${i}]`)));
      return sql`${col} in (${sql.join(values, sql`, `)})`;
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
      const query = sql`${sql.raw(TSQUERY[c.op])}(${config}::regconfig, ${c.value})`;
      const document = spec.type === 'tsvector' ? sql`${col}` : sql`to_tsvector(${config}::regconfig, ${col})`;
      return sql`${document} @@ ${query}`;
    }
    default: {
      if (c.value === null) throw invalid(c.column, `${c.op} does not take null; use is`);
      const value = coerceValue(spec.type, c.value, c.column);
      return sql`${col} ${sql.raw(COMPARE[c.op]!)} ${param(spec, value)}`;
    }
  }
}

export function compileFilter(table: TableSpec, filter: Filter, depth = 0): SQL {
  if (depth > MAX_DEPTH) throw invalid('filter', `nests deeper than ${MAX_DEPTH} levels`);
  let compiled: SQL;
  if ('or' in filter || 'and' in filter) {
    const parts = 'or' in filter ? filter.or : filter.and;
    if (!Array.isArray(parts) || parts.length === 0) throw invalid('filter', 'an and/or group needs at least one condition');
    const children = parts.map((f) => compileFilter(table, f, depth + 1));
    compiled = ('or' in filter ? or(...children) : and(...children))!;
  } else {
    compiled = compileCondition(table, filter);
  }
  return filter.negate ? not(compiled) : sql`(${compiled})`;
}

/** All filters AND-ed together; undefined when there are none. */
export function compileFilters(table: TableSpec, filters: Filter[]): SQL | undefined {
  return filters.length ? and(...filters.map((f) => compileFilter(table, f))) : undefined;
}
