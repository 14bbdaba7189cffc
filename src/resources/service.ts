import { requireActor, type RequestContext } from '../context/index.js';
import { AppError } from '../errors/app-error.js';
import { apiTimestamp } from '../lib/timestamp.js';
import { allOf, bindFilters, compileFilters, compileOrder, decodeCursor, keysetBound, keysetPage, parseSortKey, type Filter, type KeysetPage } from '../query/index.js';
import type { Resource, Row } from './define.js';
import * as q from './queries.js';
import * as writer from './writer.js';

// The native /api/v1/<name> use cases of a declared resource: plain values in, rows as the
// native API shows them out (timestamps in RFC 3339 UTC, bigint as a number).

export interface ListParams {
  sort?: string;
  limit?: number;
  cursor?: string;
  count?: 'exact';
  /** `column → value`: equality on the resource's filterable columns. */
  filters: Record<string, unknown>;
}

/** A row as the native API returns it. */
export function shapeRow(resource: Resource, row: Row): Row {
  const out: Row = {};
  for (const [key, value] of Object.entries(row)) {
    const type = resource.restSpec.columns[key]?.type;
    out[key] = value == null ? value : type === 'timestamptz' ? apiTimestamp(String(value)) : type === 'bigint' ? Number(value) : value;
  }
  return out;
}

export async function listRows(ctx: RequestContext, resource: Resource, params: ListParams): Promise<KeysetPage<Row> & { total?: number }> {
  const actor = requireActor(ctx);
  const { spec } = resource;
  // Newest first by default when created_at is sortable; otherwise by id (the total order's key).
  const sort = params.sort ?? (spec.columns.created_at?.sortable ? '-created_at' : undefined);
  const terms = sort ? parseSortKey(spec, sort) : [];
  const filters: Filter[] = Object.entries(params.filters).map(([column, value]) => ({ column, op: 'eq', value }));
  const after = params.cursor ? keysetBound(spec, terms, decodeCursor(spec, terms, params.cursor)) : undefined;
  const limit = params.limit ?? 50;
  const rows = await q.selectRows(ctx.readDb, actor, resource, { columns: resource.columns, where: allOf(bindFilters(spec, filters), after), order: compileOrder(spec, terms), limit: limit + 1, shape: sort ?? '' });
  const page = keysetPage(spec, terms, rows, limit, (row) => shapeRow(resource, row));
  return params.count === 'exact' ? { ...page, total: await q.countRows(ctx.readDb, actor, resource, compileFilters(spec, filters)) } : page;
}

export async function getRow(ctx: RequestContext, resource: Resource, id: string): Promise<Row> {
  const row = await q.rowById(ctx.readDb, requireActor(ctx), resource, id);
  if (!row) throw new AppError('not_found');
  return shapeRow(resource, row);
}

export async function createRow(ctx: RequestContext, resource: Resource, input: Row): Promise<Row> {
  const [row] = await writer.createRows(ctx, resource, [input]);
  return shapeRow(resource, row!);
}

export async function patchRow(ctx: RequestContext, resource: Resource, id: string, patch: Row): Promise<Row> {
  return shapeRow(resource, await writer.updateById(ctx, resource, id, patch));
}

export async function deleteRow(ctx: RequestContext, resource: Resource, id: string): Promise<void> {
  await writer.deleteById(ctx, resource, id);
}
