import { requireActor, type RequestContext } from '../../context/index.js';
import { analyses } from '../../db/schema/index.js';
import { AppError } from '../../errors/app-error.js';
import { apiTimestamp } from '../../lib/timestamp.js';
import { allOf, bindFilters, compileOrder, decodeCursor, keysetBound, keysetPage, parseSortKey, type Filter, type KeysetPage } from '../../query/index.js';
import { resourceQueries as rq, resourceWriter as writer } from '../../resources/index.js';
import { documentsResource } from '../documents/documents.resource.js';
import { analysesResource as resource } from './analyses.resource.js';
import type { AnalysisCreate, AnalysisPatch, ListQuery } from './schemas.js';

// The analyses use cases over the resource layer: reads owner-scoped on the read handle,
// writes through the resource writer (one transaction with their audit rows).

export type AnalysisRow = typeof analyses.$inferSelect;

export const toAnalysis = (row: AnalysisRow) => ({ ...row, created_at: apiTimestamp(row.created_at), updated_at: apiTimestamp(row.updated_at) });


/** A page of a visible document's analyses; 404 for a document the caller cannot see, rather than an empty list that confirms nothing. */
export async function listAnalyses(ctx: RequestContext, documentId: string, query: ListQuery): Promise<KeysetPage<ReturnType<typeof toAnalysis>>> {
  const { sort = '-created_at', limit = 50, cursor, status, kind } = query;
  const actor = requireActor(ctx);
  if (!(await rq.visibleParent(ctx.readDb, actor, documentsResource, documentId))) throw new AppError('not_found');
  const filters: Filter[] = [{ column: 'document_id', op: 'eq', value: documentId }];
  if (status) filters.push({ column: 'status', op: 'eq', value: status });
  if (kind) filters.push({ column: 'kind', op: 'eq', value: kind });
  const terms = parseSortKey(resource.spec, sort);
  const after = cursor ? keysetBound(resource.spec, terms, decodeCursor(resource.spec, terms, cursor)) : undefined;
  const rows = (await rq.selectRows(ctx.readDb, actor, resource, {
    columns: resource.columns,
    where: allOf(bindFilters(resource.spec, filters), after),
    order: compileOrder(resource.spec, terms),
    limit: limit + 1,
    shape: sort,
  })) as AnalysisRow[];
  return keysetPage(resource.spec, terms, rows, limit, toAnalysis);
}

export async function getAnalysis(ctx: RequestContext, id: string): Promise<AnalysisRow> {
  const row = await rq.rowById(ctx.readDb, requireActor(ctx), resource, id);
  if (!row) throw new AppError('not_found');
  return row as AnalysisRow;
}

/** On a document the caller may see (404 otherwise); owned by the document's owner. */
export async function createAnalysis(ctx: RequestContext, documentId: string, input: AnalysisCreate): Promise<AnalysisRow> {
  const [row] = await writer.createRows(ctx, resource, [{ ...input, document_id: documentId }]);
  return row as AnalysisRow;
}

export async function updateAnalysis(ctx: RequestContext, id: string, patch: AnalysisPatch): Promise<AnalysisRow> {
  return (await writer.updateById(ctx, resource, id, patch)) as AnalysisRow;
}

export async function deleteAnalysis(ctx: RequestContext, id: string): Promise<void> {
  await writer.deleteById(ctx, resource, id);
}
