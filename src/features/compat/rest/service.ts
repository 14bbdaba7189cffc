import type { SQL } from 'drizzle-orm';
import { requireActor, type RequestContext } from '../../../context/index.js';
import type { Filter, SortTerm } from '../../../query/index.js';
import { resourceQueries as rq, type Resource, type Row } from '../../../resources/index.js';
import { invalidRange, notSingular } from './errors.js';
import { readRows, rootWhere, shapeRows } from './read.js';
import type { Projection } from './resolve.js';

// /rest/v1's use cases over plain values: a planned read or write and the caller's context
// (null for the anon key alone, which owner-only row-level security gives no row).

export interface ReadPlan {
  resource: Resource;
  projection: Projection;
  filters: Filter[];
  order: SortTerm[];
  offset: number;
  limit: number;
  /** Prefer: count=...: answered exactly, whichever kind was asked. */
  count: boolean;
}

export async function readTable(ctx: RequestContext | null, plan: ReadPlan): Promise<{ rows: Row[]; total: number | null }> {
  const { resource, projection, offset, limit } = plan;
  let rows: Row[] = [];
  let total: number | null = null;
  if (ctx) {
    const actor = requireActor(ctx);
    if (plan.count) total = await rq.countRows(ctx.readDb, actor, resource, rootWhere(actor, resource, plan.filters, projection.embeds));
    if (limit > 0 && (total === null || offset < total)) {
      rows = await readRows(ctx.readDb, actor, { resource, projection, filters: plan.filters, order: plan.order, limit, offset });
    }
  } else if (plan.count) {
    total = 0;
  }
  if (total !== null && offset > 0 && offset >= total && total > 0) {
    throw invalidRange(`An offset of ${offset} was requested, but there are only ${total} rows.`);
  }
  return { rows, total };
}

/** Rows as written, shaped by the request's select (embeddings included). */
export async function shapeWritten(ctx: RequestContext, resource: Resource, projection: Projection, rows: Row[]): Promise<Row[]> {
  return shapeRows(ctx.db, requireActor(ctx), resource, projection, rows);
}

/**
 * PATCH and DELETE: the anon role matches no row, so nothing changes; `single` (a
 * `.single()` write) is refused before anything is written unless exactly one row matches.
 */
export async function mutateTable(ctx: RequestContext | null, resource: Resource, where: SQL, single: boolean, run: () => Promise<Row[]>): Promise<Row[]> {
  if (!ctx) return [];
  if (single) {
    const n = await rq.countRows(ctx.db, requireActor(ctx), resource, where);
    if (n !== 1) throw notSingular(n);
  }
  return run();
}
