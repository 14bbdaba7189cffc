import type { FastifyRequest } from 'fastify';
import type { Db } from '../../db/client.js';
import { AppError } from '../../errors/app-error.js';
import { apiTimestamp } from '../../lib/timestamp.js';
import type { SQL } from 'drizzle-orm';
import { diff, recordAudit, recordAuditMany } from '../audit/record.js';
import { actorOf, writeTx } from '../documents/service.js';
import * as q from './queries.js';
import type { AnalysisRow, AnalysisValues } from './queries.js';
import { COST_PATTERN, type AnalysisCreate, type AnalysisPatch } from './schemas.js';

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

export async function createAnalysis(db: Db, request: FastifyRequest, documentId: string, input: AnalysisCreate): Promise<AnalysisRow> {
  const actor = actorOf(request);
  const data = values(input) as AnalysisValues & { kind: AnalysisCreate['kind'] };
  return writeTx(db, async (tx) => {
    const doc = await q.visibleDocument(tx, actor, documentId);
    if (!doc) throw new AppError('not_found');
    const row = await q.insertAnalysis(tx, doc, data);
    const changes = Object.fromEntries(Object.entries(auditView(row)).map(([k, v]) => [k, { before: null, after: v }]));
    await recordAudit(tx, request, entry(actor.id, 'analysis.create', row.id, changes));
    return row;
  });
}

export async function updateAnalysis(db: Db, request: FastifyRequest, id: string, patch: AnalysisPatch): Promise<AnalysisRow> {
  const actor = actorOf(request);
  const data = values(patch);
  return writeTx(db, async (tx) => {
    const before = await q.getAnalysis(tx, actor, id, true);
    if (!before) throw new AppError('not_found');
    const row = await q.updateAnalysis(tx, actor, id, data);
    if (!row) throw new AppError('not_found');
    await recordAudit(tx, request, entry(actor.id, 'analysis.update', id, diff(auditView(before), auditView(row))));
    return row;
  });
}

export async function deleteAnalysis(db: Db, request: FastifyRequest, id: string): Promise<void> {
  const actor = actorOf(request);
  await writeTx(db, async (tx) => {
    const before = await q.getAnalysis(tx, actor, id, true);
    if (!before || !(await q.deleteAnalysis(tx, actor, id))) throw new AppError('not_found');
    const changes = Object.fromEntries(Object.entries(auditView(before)).map(([k, v]) => [k, { before: v, after: null }]));
    await recordAudit(tx, request, entry(actor.id, 'analysis.delete', id, changes));
  });
}

/**
 * Several analyses, each on a document the caller may see, all or nothing (/rest/v1 POST of
 * an array). An invisible document answers not_found, naming the item.
 */
export async function createAnalyses(db: Db, request: FastifyRequest, inputs: (AnalysisCreate & { document_id: string })[]): Promise<AnalysisRow[]> {
  const actor = actorOf(request);
  const items = inputs.map(({ document_id, ...input }) => ({ document_id, data: values(input) as AnalysisValues & { kind: AnalysisCreate['kind'] } }));
  return writeTx(db, async (tx) => {
    const rows: AnalysisRow[] = [];
    for (const [index, item] of items.entries()) {
      const doc = await q.visibleDocument(tx, actor, item.document_id);
      if (!doc) throw new AppError('not_found', { message: 'The document does not exist.', details: [{ field: 'document_id', message: 'no such document', index }] });
      rows.push(await q.insertAnalysis(tx, doc, item.data));
    }
    await recordAuditMany(tx, request, rows.map((row) => entry(actor.id, 'analysis.create', row.id, Object.fromEntries(Object.entries(auditView(row)).map(([k, v]) => [k, { before: null, after: v }])))));
    return rows;
  });
}

/** Filtered bulk update (/rest/v1 PATCH), audited per row, in one transaction. */
export async function updateAnalysesWhere(db: Db, request: FastifyRequest, where: SQL, patch: AnalysisPatch): Promise<AnalysisRow[]> {
  const actor = actorOf(request);
  const data = values(patch);
  return writeTx(db, async (tx) => {
    const before = new Map((await q.lockAnalysesWhere(tx, actor, where)).map((r) => [r.id, r]));
    const rows = await q.updateAnalysesByIds(tx, actor, [...before.keys()], data);
    await recordAuditMany(tx, request, rows.map((row) => entry(actor.id, 'analysis.update', row.id, diff(auditView(before.get(row.id)!), auditView(row)))));
    return rows;
  });
}

/** Filtered bulk delete (/rest/v1 DELETE): returns the rows as they were. */
export async function deleteAnalysesWhere(db: Db, request: FastifyRequest, where: SQL): Promise<AnalysisRow[]> {
  const actor = actorOf(request);
  return writeTx(db, async (tx) => {
    const before = await q.lockAnalysesWhere(tx, actor, where);
    const deleted = new Set(await q.deleteAnalysesByIds(tx, actor, before.map((r) => r.id)));
    const rows = before.filter((r) => deleted.has(r.id));
    await recordAuditMany(tx, request, rows.map((row) => entry(actor.id, 'analysis.delete', row.id, Object.fromEntries(Object.entries(auditView(row)).map(([k, v]) => [k, { before: v, after: null }])))));
    return rows;
  });
}
