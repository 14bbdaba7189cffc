import type { SQL } from 'drizzle-orm';
import { requireActor, writeTx, type RequestContext } from '../../context/index.js';
import { AppError } from '../../errors/app-error.js';
import { apiTimestamp } from '../../lib/timestamp.js';
import { keysetPage, parseSortKey, type Filter, type KeysetPage } from '../../query/index.js';
import { diff, recordAudit, recordAuditMany } from '../audit/record.js';
import * as q from './queries.js';
import type { AnalysisRow, AnalysisValues } from './queries.js';
import { COST_PATTERN, type AnalysisCreate, type AnalysisPatch, type ListQuery } from './schemas.js';

const COST = new RegExp(COST_PATTERN);

/** cost_usd as the exact decimal string stored in numeric(14,6); 400 when it cannot be exact. */
function cost(value: string | number | null | undefined): string | null | undefined {
  if (value === undefined || value === null) return value;
  const text = typeof value === 'number' ? String(value) : value;
  if (!COST.test(text)) {
    throw new AppError('validation_failed', { message: 'cost_usd must be a decimal with up to 8 integer digits and 6 decimals.', details: [
      { field: 'body.cost_usd', message: 'must be a decimal with up to 8 integer digits and 6 decimals' },
    ] });
  }
  return text;
}

function values(input: AnalysisCreate | AnalysisPatch): AnalysisValues {
  const { cost_usd, ...rest } = input;
  return { ...rest, ...(cost_usd === undefined ? {} : { cost_usd: cost(cost_usd) }) } as AnalysisValues;
}

export const toAnalysis = (row: AnalysisRow) => ({ ...row, created_at: apiTimestamp(row.created_at), updated_at: apiTimestamp(row.updated_at) });

const auditView = ({ id: _i, created_at: _c, updated_at: _u, ...fields }: AnalysisRow) => fields;
const entry = (actorId: string, action: string, id: string, changes: Record<string, unknown>) => ({ actor_id: actorId, action, entity_type: 'analysis', entity_id: id, changes });

/** A page of a visible document's analyses; 404 for a document the caller cannot see, rather than an empty list that confirms nothing. */
export async function listAnalyses(ctx: RequestContext, documentId: string, query: ListQuery): Promise<KeysetPage<ReturnType<typeof toAnalysis>>> {
  const { sort = '-created_at', limit = 50, cursor, status, kind } = query;
  const actor = requireActor(ctx);
  if (!(await q.visibleDocument(ctx.readDb, actor, documentId))) throw new AppError('not_found');
  const filters: Filter[] = [];
  if (status) filters.push({ column: 'status', op: 'eq', value: status });
  if (kind) filters.push({ column: 'kind', op: 'eq', value: kind });
  const terms = parseSortKey(q.analysisTable, sort);
  const rows = await q.listAnalyses(ctx.readDb, actor, documentId, filters, terms, limit, cursor);
  return keysetPage(q.analysisTable, terms, rows, limit, toAnalysis);
}

export async function getAnalysis(ctx: RequestContext, id: string): Promise<AnalysisRow> {
  const row = await q.getAnalysis(ctx.readDb, requireActor(ctx), id);
  if (!row) throw new AppError('not_found');
  return row;
}

export async function createAnalysis(ctx: RequestContext, documentId: string, input: AnalysisCreate): Promise<AnalysisRow> {
  const actor = requireActor(ctx);
  const data = values(input) as AnalysisValues & { kind: AnalysisCreate['kind'] };
  return writeTx(ctx.db, async (tx) => {
    const doc = await q.visibleDocument(tx, actor, documentId);
    if (!doc) throw new AppError('not_found');
    const row = await q.insertAnalysis(tx, doc, data);
    const changes = Object.fromEntries(Object.entries(auditView(row)).map(([k, v]) => [k, { before: null, after: v }]));
    await recordAudit(tx, ctx.audit, entry(actor.id, 'analysis.create', row.id, changes));
    return row;
  });
}

export async function updateAnalysis(ctx: RequestContext, id: string, patch: AnalysisPatch): Promise<AnalysisRow> {
  const actor = requireActor(ctx);
  const data = values(patch);
  return writeTx(ctx.db, async (tx) => {
    const before = await q.getAnalysis(tx, actor, id, true);
    if (!before) throw new AppError('not_found');
    const row = await q.updateAnalysis(tx, actor, id, data);
    if (!row) throw new AppError('not_found');
    await recordAudit(tx, ctx.audit, entry(actor.id, 'analysis.update', id, diff(auditView(before), auditView(row))));
    return row;
  });
}

export async function deleteAnalysis(ctx: RequestContext, id: string): Promise<void> {
  const actor = requireActor(ctx);
  await writeTx(ctx.db, async (tx) => {
    const before = await q.getAnalysis(tx, actor, id, true);
    if (!before || !(await q.deleteAnalysis(tx, actor, id))) throw new AppError('not_found');
    const changes = Object.fromEntries(Object.entries(auditView(before)).map(([k, v]) => [k, { before: v, after: null }]));
    await recordAudit(tx, ctx.audit, entry(actor.id, 'analysis.delete', id, changes));
  });
}

/**
 * Several analyses, each on a document the caller may see, all or nothing (/rest/v1 POST of
 * an array). An invisible document answers not_found, naming the item.
 */
export async function createAnalyses(ctx: RequestContext, inputs: (AnalysisCreate & { document_id: string })[]): Promise<AnalysisRow[]> {
  const actor = requireActor(ctx);
  const items = inputs.map(({ document_id, ...input }) => ({ document_id, data: values(input) as AnalysisValues & { kind: AnalysisCreate['kind'] } }));
  return writeTx(ctx.db, async (tx) => {
    const rows: AnalysisRow[] = [];
    for (const [index, item] of items.entries()) {
      const doc = await q.visibleDocument(tx, actor, item.document_id);
      if (!doc) throw new AppError('not_found', { message: 'The document does not exist.', details: [{ field: 'document_id', message: 'no such document', index }] });
      rows.push(await q.insertAnalysis(tx, doc, item.data));
    }
    await recordAuditMany(tx, ctx.audit, rows.map((row) => entry(actor.id, 'analysis.create', row.id, Object.fromEntries(Object.entries(auditView(row)).map(([k, v]) => [k, { before: null, after: v }])))));
    return rows;
  });
}

/** Filtered bulk update (/rest/v1 PATCH), audited per row, in one transaction. */
export async function updateAnalysesWhere(ctx: RequestContext, where: SQL, patch: AnalysisPatch): Promise<AnalysisRow[]> {
  const actor = requireActor(ctx);
  const data = values(patch);
  return writeTx(ctx.db, async (tx) => {
    const before = new Map((await q.lockAnalysesWhere(tx, actor, where)).map((r) => [r.id, r]));
    const rows = await q.updateAnalysesByIds(tx, actor, [...before.keys()], data);
    await recordAuditMany(tx, ctx.audit, rows.map((row) => entry(actor.id, 'analysis.update', row.id, diff(auditView(before.get(row.id)!), auditView(row)))));
    return rows;
  });
}

/** Filtered bulk delete (/rest/v1 DELETE): returns the rows as they were. */
export async function deleteAnalysesWhere(ctx: RequestContext, where: SQL): Promise<AnalysisRow[]> {
  const actor = requireActor(ctx);
  return writeTx(ctx.db, async (tx) => {
    const before = await q.lockAnalysesWhere(tx, actor, where);
    const deleted = new Set(await q.deleteAnalysesByIds(tx, actor, before.map((r) => r.id)));
    const rows = before.filter((r) => deleted.has(r.id));
    await recordAuditMany(tx, ctx.audit, rows.map((row) => entry(actor.id, 'analysis.delete', row.id, Object.fromEntries(Object.entries(auditView(row)).map(([k, v]) => [k, { before: v, after: null }])))));
    return rows;
  });
}
