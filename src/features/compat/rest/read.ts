import { and, type SQL } from 'drizzle-orm';
import type { PgColumn } from 'drizzle-orm/pg-core';
import type { DbOrTx } from '../../../db/client.js';
import { BoundedMap } from '../../../lib/bounded-map.js';
import { bindFilters, compileFilters, compileOrder, type Bound, type Filter, type SortTerm } from '../../../query/index.js';
import { resourceQueries as rq, type Resource } from '../../../resources/index.js';
import type { Actor } from '../../../context/index.js';
import type { Embed, Field, Projection } from './resolve.js';

// Reads for /rest/v1: the root rows through the resource's owner-scoped select, then each
// embedding with one more owner-scoped query for all parents at once (no N+1).

export interface ReadPlan {
  resource: Resource;
  projection: Projection;
  filters: Filter[];
  order: SortTerm[];
  limit?: number;
  offset: number;
}

/** The root filter plus, for each `!inner` embedding, "has a matching related row". */
export function rootWhere(actor: Actor, resource: Resource, filters: Filter[], embeds: Embed[]): SQL | undefined {
  const inner = embeds.filter((e) => e.inner).map((e) => rq.relatedExists(actor, resource, e.relation, e.resource, compileFilters(e.resource.restSpec, e.filters)));
  return and(compileFilters(resource.restSpec, filters), ...inner);
}

/**
 * The root filter for the read itself: bound, so the statement is rendered once per shape and
 * reused (resources/queries.ts), unless an `!inner` embedding adds its EXISTS (rendered per call).
 */
function readWhere(actor: Actor, resource: Resource, filters: Filter[], embeds: Embed[]): SQL | Bound | undefined {
  return embeds.some((e) => e.inner) ? rootWhere(actor, resource, filters, embeds) : bindFilters(resource.restSpec, filters);
}

/**
 * What a select list or an order builds, kept per resource and name (at most 256 of each):
 * clients send the same few again and again, and a read reuses its statement by these names.
 */
function perResource<V>(): (resource: Resource, name: string, make: () => V) => V {
  const byResource = new WeakMap<Resource, BoundedMap<string, V>>();
  return (resource, name, make) => {
    let made = byResource.get(resource);
    if (!made) byResource.set(resource, (made = new BoundedMap(256)));
    let value = made.get(name);
    if (value === undefined) made.set(name, (value = make()));
    return value;
  };
}
const columnMaps = perResource<Record<string, PgColumn>>();
const orders = perResource<SQL[]>();

/** The ORDER BY of `order` and its name (RowsQuery.shape): the same name, the same ORDER BY. */
function orderOf(resource: Resource, order: SortTerm[]): { order: SQL[]; shape: string } {
  const shape = order.map((t) => `${JSON.stringify(t.column)} ${t.direction} ${t.nulls ?? ''}`).join(', ');
  return { order: orders(resource, shape, () => compileOrder(resource.restSpec, order)), shape };
}

/** timestamptz as PostgREST writes it (PostgreSQL's JSON text): "2026-01-02T03:04:05.123456+00:00". */
const postgrestTimestamp = (value: string) => value.replace(' ', 'T').replace(/([+-]\d{2})$/, '$1:00');

/** JSON as PostgREST writes it: timestamptz in RFC 3339, numeric and bigint as numbers. */
export function toJsonValue(resource: Resource, column: string, value: unknown): unknown {
  if (value === null || value === undefined) return value ?? null;
  switch (resource.restSpec.columns[column]?.type) {
    case 'timestamptz':
      return postgrestTimestamp(String(value));
    case 'numeric':
    case 'bigint':
      return Number(value);
    default:
      return value;
  }
}

/**
 * One output row. Its keys are the client's aliases (`select=__proto__:title` is a valid
 * PostgREST alias), so the row has no prototype: assigning any key makes an own property.
 */
function project(resource: Resource, fields: Field[], row: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = Object.create(null);
  for (const f of fields) out[f.key] = toJsonValue(resource, f.column, row[f.column]);
  return out;
}

/** Column map for a select: the projected columns plus the keys embeddings join on, and its name (RowsQuery.columnsKey). */
function columnsFor(resource: Resource, fields: Field[], extra: string[]) {
  const names = [...new Set([...fields.map((f) => f.column), ...extra])];
  const columnsKey = names.join(',');
  return { columns: columnMaps(resource, columnsKey, () => Object.fromEntries(names.map((n) => [n, resource.columns[n]!]))), columnsKey };
}

async function attachEmbed(db: DbOrTx, actor: Actor, embed: Embed, rows: Record<string, unknown>[], out: Record<string, unknown>[]) {
  const { relation, resource } = embed;
  const keys = [...new Set(rows.map((r) => r[relation.localKey]).filter((k): k is string => typeof k === 'string'))];
  if (embed.count) {
    const counts = await rq.countBy(db, actor, resource, relation.targetKey, keys, compileFilters(resource.restSpec, embed.filters));
    rows.forEach((row, i) => (out[i]![embed.key] = [{ count: counts.get(row[relation.localKey] as string) ?? 0 }]));
    return;
  }
  const related = keys.length
    ? await rq.selectRows(db, actor, resource, {
        ...columnsFor(resource, embed.fields, [relation.targetKey]),
        where: bindFilters(resource.restSpec, [{ column: relation.targetKey, op: 'in', value: keys }, ...embed.filters]),
        ...orderOf(resource, embed.order),
      })
    : [];
  const byKey = new Map<unknown, Record<string, unknown>[]>();
  for (const r of related) {
    const list = byKey.get(r[relation.targetKey]) ?? [];
    list.push(r);
    byKey.set(r[relation.targetKey], list);
  }
  rows.forEach((row, i) => {
    const matches = byKey.get(row[relation.localKey]) ?? [];
    if (relation.cardinality === 'one') {
      out[i]![embed.key] = matches[0] ? project(resource, embed.fields, matches[0]) : null;
      return;
    }
    const from = embed.offset ?? 0;
    const page = matches.slice(from, embed.limit === undefined ? undefined : from + embed.limit);
    out[i]![embed.key] = page.map((m) => project(resource, embed.fields, m));
  });
}

/** Shapes rows (as read, or as a write returned them) for the response, embeddings included. */
export async function shapeRows(db: DbOrTx, actor: Actor, resource: Resource, projection: Projection, rows: Record<string, unknown>[]): Promise<Record<string, unknown>[]> {
  const out = rows.map((row) => project(resource, projection.fields, row));
  for (const embed of projection.embeds) await attachEmbed(db, actor, embed, rows, out);
  return out;
}

export async function readRows(db: DbOrTx, actor: Actor, plan: ReadPlan): Promise<Record<string, unknown>[]> {
  const { resource, projection } = plan;
  const rows = await rq.selectRows(db, actor, resource, {
    ...columnsFor(
      resource,
      projection.fields,
      projection.embeds.map((e) => e.relation.localKey),
    ),
    where: readWhere(actor, resource, plan.filters, projection.embeds),
    ...orderOf(resource, plan.order),
    ...(plan.limit !== undefined ? { limit: plan.limit } : {}),
    offset: plan.offset,
  });
  return shapeRows(db, actor, resource, projection, rows);
}
