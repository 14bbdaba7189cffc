import { and, eq, inArray, sql, type SQL } from 'drizzle-orm';
import type { DbOrTx } from '../../db/client.js';
import { statementCache } from '../../db/prepared.js';
import { analyses, documents } from '../../db/schema/index.js';
import type { Actor } from '../../context/index.js';
import { compileFilters, compileOrder, decodeCursor, defineTable, keysetCondition, ownerScope as scopeOf, type Filter, type RowsQuery, type SortTerm } from '../../query/index.js';
import type { DocumentCreate, DocumentPatch, ListFilters } from './schemas.js';

// What the query layer may filter and sort documents by. content_text and search are absent
// on purpose: neither is a list filter (search has its own endpoint).
export const documentTable = defineTable({
  name: 'documents',
  key: 'id',
  columns: {
    id: { column: documents.id, type: 'uuid' },
    owner_id: { column: documents.owner_id, type: 'uuid' },
    title: { column: documents.title, type: 'text', sortable: true },
    description: { column: documents.description, type: 'text', nullable: true },
    status: { column: documents.status, type: 'text' },
    s3_bucket: { column: documents.s3_bucket, type: 'text' },
    s3_key: { column: documents.s3_key, type: 'text' },
    content_type: { column: documents.content_type, type: 'text', nullable: true },
    size_bytes: { column: documents.size_bytes, type: 'bigint', nullable: true },
    sha256: { column: documents.sha256, type: 'text', nullable: true },
    tags: { column: documents.tags, type: 'text[]' },
    metadata: { column: documents.metadata, type: 'jsonb' },
    analysis_count: { column: documents.analysis_count, type: 'integer' },
    created_at: { column: documents.created_at, type: 'timestamptz', sortable: true },
    updated_at: { column: documents.updated_at, type: 'timestamptz', sortable: true },
  },
});

// A strong validator for the row version: xmin changes with every committed UPDATE of the
// row (including the analysis_count trigger's), and hashing it with the id keeps it opaque.
const etagSql = sql<string>`md5(${documents.id}::text || ':' || "documents"."xmin"::text)`;

export const documentColumns = {
  id: documents.id,
  owner_id: documents.owner_id,
  title: documents.title,
  description: documents.description,
  status: documents.status,
  s3_bucket: documents.s3_bucket,
  s3_key: documents.s3_key,
  content_type: documents.content_type,
  size_bytes: documents.size_bytes,
  sha256: documents.sha256,
  tags: documents.tags,
  metadata: documents.metadata,
  analysis_count: documents.analysis_count,
  created_at: documents.created_at,
  updated_at: documents.updated_at,
};
const withContent = { ...documentColumns, content_text: documents.content_text, etag: etagSql };

export type DocumentRow = { [K in keyof typeof documentColumns]: (typeof documents.$inferSelect)[K] };
export type FullDocumentRow = DocumentRow & { content_text: string | null; etag: string };

/** owner_id = the caller, always, unless admin powers apply; an owner_id filter can only narrow. */
export const ownerScope = (actor: Actor, ownerId?: string): SQL | undefined => scopeOf(actor, documents.owner_id, ownerId);

function listFilters(f: ListFilters): Filter[] {
  const filters: Filter[] = [];
  if (f.status) filters.push({ column: 'status', op: 'eq', value: f.status });
  if (f.tag?.length) filters.push({ column: 'tags', op: 'cs', value: f.tag });
  if (f.created_after) filters.push({ column: 'created_at', op: 'gt', value: f.created_after });
  if (f.created_before) filters.push({ column: 'created_at', op: 'lt', value: f.created_before });
  return filters;
}

const whereOf = (actor: Actor, f: ListFilters) => and(ownerScope(actor, f.owner_id), compileFilters(documentTable, listFilters(f)));

// The hot reads, rendered once per handle and shape (src/db/prepared.ts): the same SQL as the
// builder chains below render, with placeholders for the values. Shapes: own or any (admin
// powers), and for the list's first page the one sort term (a handful of sortable columns).
const firstPage = statementCache((db, shape) => {
  const { own, sort } = JSON.parse(shape) as { own: boolean; sort: SortTerm[] };
  return db
    .select(documentColumns)
    .from(documents)
    .where(own ? eq(documents.owner_id, sql.placeholder('owner')) : undefined)
    .orderBy(...compileOrder(documentTable, sort))
    .limit(sql.placeholder('limit'))
    .prepare('offbase_documents_first_page');
});
const getOne = statementCache((db, shape) =>
  db
    .select(withContent)
    .from(documents)
    .where(shape === 'own' ? and(eq(documents.id, sql.placeholder('id')), eq(documents.owner_id, sql.placeholder('owner'))) : eq(documents.id, sql.placeholder('id')))
    .limit(1)
    .prepare('offbase_documents_get'),
);
const noFilters = (f: ListFilters) => Object.values(f).every((v) => v === undefined);

export async function listDocuments(db: DbOrTx, actor: Actor, f: ListFilters, sort: SortTerm[], limit: number, cursor?: string): Promise<DocumentRow[]> {
  if (!cursor && sort.length === 1 && noFilters(f)) {
    return firstPage(db, JSON.stringify({ own: !actor.admin, sort })).execute({ owner: actor.id, limit: limit + 1 });
  }
  const after = cursor ? keysetCondition(documentTable, sort, decodeCursor(documentTable, sort, cursor)) : undefined;
  return db
    .select(documentColumns)
    .from(documents)
    .where(and(whereOf(actor, f), after))
    .orderBy(...compileOrder(documentTable, sort))
    .limit(limit + 1);
}

export async function countDocuments(db: DbOrTx, actor: Actor, f: ListFilters): Promise<number> {
  return db.$count(documents, whereOf(actor, f));
}

export async function getDocument(db: DbOrTx, actor: Actor, id: string, lock = false): Promise<FullDocumentRow | undefined> {
  if (!lock) {
    const [row] = await getOne(db, actor.admin ? 'any' : 'own').execute({ id, owner: actor.id });
    return row;
  }
  const query = db.select(withContent).from(documents).where(and(eq(documents.id, id), ownerScope(actor))).limit(1);
  const [row] = lock ? await query.for('update') : await query;
  return row;
}

/** null when (owner, s3_bucket, s3_key) is taken. */
export async function insertDocument(db: DbOrTx, ownerId: string, input: DocumentCreate): Promise<FullDocumentRow | null> {
  const [row] = await db.insert(documents).values({ ...input, owner_id: ownerId }).onConflictDoNothing().returning(withContent);
  return row ?? null;
}

// The batch travels as ONE jsonb parameter expanded by jsonb_to_recordset: one INSERT, one
// statement text whatever the batch size (so it is prepared once), and no 13-column x
// 1000-row parameter list for the query builder to assemble (several times slower).
const BATCH_COLUMNS = sql.raw(
  'title text, description text, status text, s3_bucket text, s3_key text, content_type text, size_bytes bigint, sha256 text, content_text text, tags text[], metadata jsonb',
);
const returningFull = sql.join([...Object.values(documentColumns).map((c) => sql`${c}`), sql`${documents.content_text}`, sql`${etagSql} as etag`], sql`, `);

/** One multi-row INSERT; the rows that collided with existing ones are simply absent. */
export async function insertDocuments(db: DbOrTx, ownerId: string, inputs: DocumentCreate[]): Promise<FullDocumentRow[]> {
  const rows = await db.execute<FullDocumentRow>(sql`
    insert into ${documents} (owner_id, title, description, status, s3_bucket, s3_key, content_type, size_bytes, sha256, content_text, tags, metadata)
    select ${ownerId}::uuid, x.title, x.description, coalesce(x.status, 'uploaded'), x.s3_bucket, x.s3_key, x.content_type,
           x.size_bytes, x.sha256, x.content_text, coalesce(x.tags, '{}'), coalesce(x.metadata, '{}')
    from jsonb_to_recordset(${JSON.stringify(inputs)}::jsonb) as x(${BATCH_COLUMNS})
    on conflict do nothing
    returning ${returningFull}`);
  return [...rows];
}

export async function findByS3Key(db: DbOrTx, ownerId: string, bucket: string, key: string, lock = false): Promise<FullDocumentRow | undefined> {
  const query = db
    .select(withContent)
    .from(documents)
    .where(and(eq(documents.owner_id, ownerId), eq(documents.s3_bucket, bucket), eq(documents.s3_key, key)))
    .limit(1);
  const [row] = lock ? await query.for('update') : await query;
  return row;
}

/** INSERT ... ON CONFLICT DO UPDATE of the given fields; `inserted` from xmax = 0. */
export async function upsertDocument(db: DbOrTx, ownerId: string, input: DocumentCreate): Promise<FullDocumentRow & { inserted: boolean }> {
  const { s3_bucket: _b, s3_key: _k, ...set } = input;
  const [row] = await db
    .insert(documents)
    .values({ ...input, owner_id: ownerId })
    .onConflictDoUpdate({ target: [documents.owner_id, documents.s3_bucket, documents.s3_key], set })
    .returning({ ...withContent, inserted: sql<boolean>`("documents"."xmax" = 0)` });
  return row!;
}

const etagMatches = (etags: string[] | '*' | undefined) => (etags && etags !== '*' ? sql`${etagSql} in (${sql.join(etags.map((e) => sql`${e}`), sql`, `)})` : undefined);

/** The precondition is part of the UPDATE's WHERE, so a concurrent writer can never slip in between check and write. */
export async function updateDocument(db: DbOrTx, actor: Actor, id: string, patch: DocumentPatch, etags?: string[] | '*'): Promise<FullDocumentRow | undefined> {
  const [row] = await db
    .update(documents)
    .set(patch)
    .where(and(eq(documents.id, id), ownerScope(actor), etagMatches(etags)))
    .returning(withContent);
  return row;
}

export async function deleteDocument(db: DbOrTx, actor: Actor, id: string, etags?: string[] | '*'): Promise<boolean> {
  const rows = await db
    .delete(documents)
    .where(and(eq(documents.id, id), ownerScope(actor), etagMatches(etags)))
    .returning({ id: documents.id });
  return rows.length > 0;
}

export interface SearchRow extends DocumentRow {
  rank: number;
  snippet: string;
}

// Markers ts_headline puts around matches; stripped from the text first so only PostgreSQL
// can produce them, then turned into <b></b> after the snippet is HTML-escaped.
export const MARK_START = '\u0002';
export const MARK_END = '\u0003';
const HEADLINE_OPTIONS = `StartSel=${MARK_START}, StopSel=${MARK_END}, MaxWords=35, MinWords=15, MaxFragments=2, FragmentDelimiter=" … "`;

/**
 * websearch_to_tsquery parses the user's text (it never raises, whatever the input), the
 * GIN index finds matches, weights rank title (A) over description (B) over body (C), and
 * ts_headline runs only on the page of hits, not on every match.
 */
export async function searchDocuments(db: DbOrTx, actor: Actor, q: string, limit: number, status?: string, ownerId?: string): Promise<SearchRow[]> {
  const scope = and(ownerScope(actor, ownerId), status ? eq(documents.status, status as 'ready') : undefined);
  const rows = await db.execute<Record<string, unknown>>(sql`
    with q as (select websearch_to_tsquery('english', ${q}) as query),
    hits as (
      select ${sql.join(Object.values(documentColumns).map((c) => sql`${c}`), sql`, `)}, ${documents.description} as hl_description,
             ${documents.content_text} as hl_content,
             ts_rank('{0.1, 0.2, 0.4, 1.0}', ${documents.search}, q.query) as rank
      from ${documents}, q
      where ${documents.search} @@ q.query ${scope ? sql`and ${scope}` : sql``}
      order by rank desc, ${documents.id}
      limit ${limit}
    )
    select hits.*, ts_headline('english',
             translate(concat_ws(' ', hits.title, hits.hl_description, hits.hl_content), ${MARK_START + MARK_END}, ''),
             q.query, ${HEADLINE_OPTIONS}) as snippet
    from hits, q
    order by hits.rank desc, hits.id`);
  return rows.map((r) => ({
    ...(r as unknown as DocumentRow),
    size_bytes: r.size_bytes == null ? null : Number(r.size_bytes),
    rank: Number(r.rank),
    snippet: String(r.snippet),
  }));
}


// ---- General reads and filtered writes for other query surfaces (/rest/v1). The filter
// arrives compiled by the query module over an allowlist; the owner scope is added here,
// on every statement, exactly as above.

export async function selectDocumentRows(db: DbOrTx, actor: Actor, rows: RowsQuery): Promise<Record<string, unknown>[]> {
  let query = db.select(rows.columns).from(documents).where(and(ownerScope(actor), rows.where)).$dynamic();
  if (rows.order?.length) query = query.orderBy(...rows.order);
  if (rows.limit !== undefined) query = query.limit(rows.limit);
  if (rows.offset) query = query.offset(rows.offset);
  return query;
}

export async function countDocumentRows(db: DbOrTx, actor: Actor, where?: SQL): Promise<number> {
  return db.$count(documents, and(ownerScope(actor), where));
}

/** For a query on analyses: "its document is visible and matches `where`" (PostgREST's `documents!inner(...)`). */
export function documentMatches(actor: Actor, where?: SQL): SQL {
  return sql`exists (select 1 from ${documents} where ${documents.id} = ${analyses.document_id} and ${and(ownerScope(actor), where) ?? sql`true`})`;
}

/** The full rows a filtered write will touch, locked until the transaction ends. */
export async function lockDocumentsWhere(db: DbOrTx, actor: Actor, where: SQL): Promise<FullDocumentRow[]> {
  return db.select(withContent).from(documents).where(and(ownerScope(actor), where)).orderBy(documents.id).for('update');
}

export async function updateDocumentsByIds(db: DbOrTx, actor: Actor, ids: string[], patch: DocumentPatch): Promise<FullDocumentRow[]> {
  if (!ids.length) return [];
  return db.update(documents).set(patch).where(and(inArray(documents.id, ids), ownerScope(actor))).returning(withContent);
}

export async function deleteDocumentsByIds(db: DbOrTx, actor: Actor, ids: string[]): Promise<string[]> {
  if (!ids.length) return [];
  const rows = await db.delete(documents).where(and(inArray(documents.id, ids), ownerScope(actor))).returning({ id: documents.id });
  return rows.map((r) => r.id);
}
