import type { Filter, SortTerm } from '../../../query/index.js';
import { parseError, PostgrestError, unknownColumn, unknownRelationship } from './errors.js';
import type { OrderTerm, ParsedQuery, RestFilter, Scope, SelectItem } from './parser.js';
import { ResourceRegistry, type Relation, type Resource } from '../../../resources/index.js';
import { builtinResources } from '../../builtin-resources.js';

/** The built-in resources alone: what resolution works against when no app registry is given. */
const BUILT_IN = new ResourceRegistry([...builtinResources]);

// The parsed URL checked against a resource's allowlist: names that do not exist become
// PostgREST's errors, values get the shape the query module expects (arrays for array
// literals, one condition per element for (any)/(all)). The query module types and binds them.

export interface Field {
  /** Output key (the alias, or the column name). */
  key: string;
  column: string;
}

export interface Embed {
  key: string;
  relation: Relation;
  resource: Resource;
  inner: boolean;
  /** `analyses(count)`: the number of related rows instead of the rows. */
  count: boolean;
  fields: Field[];
  filters: Filter[];
  order: SortTerm[];
  limit?: number;
  offset?: number;
}

export interface Projection {
  fields: Field[];
  embeds: Embed[];
}

function fieldsOf(resource: Resource, items: readonly SelectItem[], allowEmbeds: boolean): Field[] {
  const fields: Field[] = [];
  for (const item of items) {
    if (item.type === 'star') fields.push(...Object.keys(resource.columns).map((c) => ({ key: c, column: c })));
    else if (item.type === 'column') {
      if (!Object.hasOwn(resource.columns, item.name)) throw unknownColumn(resource.name, item.name);
      fields.push({ key: item.alias ?? item.name, column: item.name });
    } else if (!allowEmbeds) throw parseError(`"failed to parse select parameter"`, 'offbase embeds one level deep');
  }
  return fields;
}

/** `select=` against the resource: columns, and one level of embedded relations. */
export function resolveSelect(resource: Resource, query: Pick<ParsedQuery, 'select' | 'embedded'>, registry: ResourceRegistry = BUILT_IN): Projection {
  const fields = fieldsOf(resource, query.select, true);
  const embeds: Embed[] = [];
  for (const item of query.select) {
    if (item.type !== 'embed') continue;
    const relation = Object.hasOwn(resource.relations, item.relation) ? resource.relations[item.relation] : undefined;
    if (!relation) throw unknownRelationship(resource.name, item.relation);
    const target = registry.target(relation);
    const key = item.alias ?? item.relation;
    const isCount = item.select.length === 1 && item.select[0]!.type === 'column' && item.select[0]!.name === 'count' && !Object.hasOwn(target.columns, 'count');
    if (isCount && relation.cardinality !== 'many') throw parseError(`"failed to parse select parameter"`, 'count applies to a to-many embedding');
    const scope: Scope = query.embedded.get(key) ?? { filters: [], order: [] };
    embeds.push({
      key,
      relation,
      resource: target,
      inner: item.inner,
      count: isCount,
      fields: isCount ? [] : fieldsOf(target, item.select, false),
      filters: resolveFilters(target, scope.filters),
      order: resolveOrder(target, scope.order),
      ...(scope.limit !== undefined ? { limit: scope.limit } : {}),
      ...(scope.offset !== undefined ? { offset: scope.offset } : {}),
    });
  }
  const used = new Set(embeds.map((e) => e.key));
  for (const key of query.embedded.keys()) {
    if (!used.has(key)) {
      throw new PostgrestError(400, 'PGRST108', `'${key}' is not an embedded resource in this request`, null, `Verify that '${key}' is included in the 'select' query parameter.`);
    }
  }
  return { fields, embeds };
}

/** PostgreSQL's array literal `{a,"b c",d}` as the list of its elements. */
export function parseArrayLiteral(text: string): string[] | null {
  const m = /^\{(.*)\}$/s.exec(text.trim());
  if (!m) return null;
  const body = m[1]!;
  const out: string[] = [];
  let i = 0;
  if (body.trim() === '') return out;
  while (i <= body.length) {
    let value = '';
    if (body[i] === '"') {
      i++;
      while (i < body.length && body[i] !== '"') {
        if (body[i] === '\\') i++;
        value += body[i++] ?? '';
      }
      i++; // closing quote
    } else {
      while (i < body.length && body[i] !== ',') value += body[i++];
      value = value.trim();
    }
    out.push(value);
    if (body[i] !== ',') break;
    i++;
  }
  return out;
}

function resolveFilter(resource: Resource, filter: RestFilter): Filter {
  if ('or' in filter) return { or: filter.or.map((f) => resolveFilter(resource, f)), ...(filter.negate ? { negate: true } : {}) };
  if ('and' in filter) return { and: filter.and.map((f) => resolveFilter(resource, f)), ...(filter.negate ? { negate: true } : {}) };
  const spec = Object.hasOwn(resource.restSpec.columns, filter.column) ? resource.restSpec.columns[filter.column] : undefined;
  if (!spec) throw unknownColumn(resource.name, filter.column);
  const negate = filter.negate ? { negate: true } : {};
  if (filter.quantifier) {
    const parts: Filter[] = (filter.value as string[]).map((value) => ({ column: filter.column, op: filter.op, value }));
    return filter.quantifier === 'any' ? { or: parts, ...negate } : { and: parts, ...negate };
  }
  let value: unknown = filter.value;
  // Array columns take PostgreSQL array literals (`cs.{a,b}`, `eq.{a}`); jsonb takes JSON text.
  if (spec.type === 'text[]' && typeof value === 'string' && filter.op !== 'is') {
    const list = parseArrayLiteral(value);
    if (!list) throw new PostgrestError(400, '22P02', `malformed array literal: "${value}"`, 'Array value must start with "{" or dimension information.');
    value = list;
  }
  if (filter.op === 'is') value = value === 'null' ? null : value;
  return { column: filter.column, op: filter.op, value, ...negate, ...(filter.config ? { config: filter.config } : {}) };
}

export function resolveFilters(resource: Resource, filters: RestFilter[]): Filter[] {
  return filters.map((f) => resolveFilter(resource, f));
}

export function resolveOrder(resource: Resource, order: OrderTerm[]): SortTerm[] {
  return order.map((term) => {
    const spec = Object.hasOwn(resource.restSpec.columns, term.column) ? resource.restSpec.columns[term.column] : undefined;
    if (!spec) throw unknownColumn(resource.name, term.column);
    if (!spec.sortable) throw parseError(`"failed to parse order"`, `${resource.name}.${term.column} cannot be ordered by`);
    return { column: term.column, direction: term.direction, ...(term.nulls ? { nulls: term.nulls } : {}) };
  });
}
