import { and, count, eq, inArray, sql, type SQL } from 'drizzle-orm';
import type { DbOrTx } from '../../db/client.js';
import { analyses, documents, type AnalysisKind, type AnalysisStatus } from '../../db/schema/index.js';
import type { Actor } from '../../context/index.js';
import { compileFilters, compileOrder, decodeCursor, defineTable, keysetCondition, ownerScope, type Filter, type RowsQuery, type SortTerm } from '../../query/index.js';

export const analysisTable = defineTable({
  name: 'analyses',
  key: 'id',
  columns: {
    id: { column: analyses.id, type: 'uuid' },
    document_id: { column: analyses.document_id, type: 'uuid' },
    owner_id: { column: analyses.owner_id, type: 'uuid' },
    kind: { column: analyses.kind, type: 'text' },
    model: { column: analyses.model, type: 'text', nullable: true },
    status: { column: analyses.status, type: 'text' },
    tokens_used: { column: analyses.tokens_used, type: 'integer', nullable: true },
    cost_usd: { column: analyses.cost_usd, type: 'numeric', nullable: true },
    duration_ms: { column: analyses.duration_ms, type: 'integer', nullable: true },
    created_at: { column: analyses.created_at, type: 'timestamptz', sortable: true },
    updated_at: { column: analyses.updated_at, type: 'timestamptz', sortable: true },
  },
});

export type AnalysisRow = typeof analyses.$inferSelect;
export interface AnalysisValues {
  kind?: AnalysisKind;
  model?: string | null;
  status?: AnalysisStatus;
  result?: unknown;
  error?: string | null;
  tokens_used?: number | null;
  cost_usd?: string | null;
  duration_ms?: number | null;
}

const scope = (actor: Actor): SQL | undefined => ownerScope(actor, analyses.owner_id);

/** The document, if the actor may see it: analyses attach only to visible documents. */
export async function visibleDocument(db: DbOrTx, actor: Actor, documentId: string): Promise<{ id: string; owner_id: string } | undefined> {
  const [doc] = await db
    .select({ id: documents.id, owner_id: documents.owner_id })
    .from(documents)
    .where(and(eq(documents.id, documentId), ownerScope(actor, documents.owner_id)))
    .limit(1);
  return doc;
}

/** The analysis belongs to the document's owner (also when an admin creates it). */
export async function insertAnalysis(db: DbOrTx, doc: { id: string; owner_id: string }, values: AnalysisValues & { kind: AnalysisKind }): Promise<AnalysisRow> {
  const [row] = await db
    .insert(analyses)
    .values({ ...values, document_id: doc.id, owner_id: doc.owner_id })
    .returning();
  return row!;
}

export async function listAnalyses(db: DbOrTx, actor: Actor, documentId: string, filters: Filter[], sort: SortTerm[], limit: number, cursor?: string): Promise<AnalysisRow[]> {
  const after = cursor ? keysetCondition(analysisTable, sort, decodeCursor(analysisTable, sort, cursor)) : undefined;
  return db
    .select()
    .from(analyses)
    .where(and(eq(analyses.document_id, documentId), scope(actor), compileFilters(analysisTable, filters), after))
    .orderBy(...compileOrder(analysisTable, sort))
    .limit(limit + 1);
}

export async function getAnalysis(db: DbOrTx, actor: Actor, id: string, lock = false): Promise<AnalysisRow | undefined> {
  const query = db.select().from(analyses).where(and(eq(analyses.id, id), scope(actor))).limit(1);
  const [row] = lock ? await query.for('update') : await query;
  return row;
}

export async function updateAnalysis(db: DbOrTx, actor: Actor, id: string, values: AnalysisValues): Promise<AnalysisRow | undefined> {
  const [row] = await db.update(analyses).set(values).where(and(eq(analyses.id, id), scope(actor))).returning();
  return row;
}

export async function deleteAnalysis(db: DbOrTx, actor: Actor, id: string): Promise<boolean> {
  const rows = await db.delete(analyses).where(and(eq(analyses.id, id), scope(actor))).returning({ id: analyses.id });
  return rows.length > 0;
}

// ---- General reads and filtered writes for other query surfaces (/rest/v1), owner-scoped
// on every statement like the functions above.

export async function selectAnalysisRows(db: DbOrTx, actor: Actor, rows: RowsQuery): Promise<Record<string, unknown>[]> {
  let query = db.select(rows.columns).from(analyses).where(and(scope(actor), rows.where)).$dynamic();
  if (rows.order?.length) query = query.orderBy(...rows.order);
  if (rows.limit !== undefined) query = query.limit(rows.limit);
  if (rows.offset) query = query.offset(rows.offset);
  return query;
}

export async function countAnalysisRows(db: DbOrTx, actor: Actor, where?: SQL): Promise<number> {
  return db.$count(analyses, and(scope(actor), where));
}

/** Visible analyses per document, for `documents?select=*,analyses(count)`. */
export async function countAnalysesByDocument(db: DbOrTx, actor: Actor, documentIds: string[], where?: SQL): Promise<Map<string, number>> {
  if (!documentIds.length) return new Map();
  const rows = await db
    .select({ document_id: analyses.document_id, n: count() })
    .from(analyses)
    .where(and(inArray(analyses.document_id, documentIds), scope(actor), where))
    .groupBy(analyses.document_id);
  return new Map(rows.map((r) => [r.document_id, r.n]));
}

/** For a query on documents: "it has a visible analysis matching `where`" (PostgREST's `analyses!inner(...)`). */
export function analysisMatches(actor: Actor, where?: SQL): SQL {
  return sql`exists (select 1 from ${analyses} where ${analyses.document_id} = ${documents.id} and ${and(scope(actor), where) ?? sql`true`})`;
}

/** The rows a filtered write will touch, locked until the transaction ends. */
export async function lockAnalysesWhere(db: DbOrTx, actor: Actor, where: SQL): Promise<AnalysisRow[]> {
  return db.select().from(analyses).where(and(scope(actor), where)).orderBy(analyses.id).for('update');
}

export async function updateAnalysesByIds(db: DbOrTx, actor: Actor, ids: string[], values: AnalysisValues): Promise<AnalysisRow[]> {
  if (!ids.length) return [];
  return db.update(analyses).set(values).where(and(inArray(analyses.id, ids), scope(actor))).returning();
}

export async function deleteAnalysesByIds(db: DbOrTx, actor: Actor, ids: string[]): Promise<string[]> {
  if (!ids.length) return [];
  const rows = await db.delete(analyses).where(and(inArray(analyses.id, ids), scope(actor))).returning({ id: analyses.id });
  return rows.map((r) => r.id);
}
