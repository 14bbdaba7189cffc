import { and, eq, sql, type SQL } from 'drizzle-orm';
import type { DbOrTx } from '../../db/client.js';
import { documents } from '../../db/schema/index.js';
import type { Actor } from '../../context/index.js';
import { ownerScope as scopeOf } from '../../query/index.js';
import type { DocumentCreate, DocumentPatch } from './schemas.js';

// A strong validator for the row version: xmin changes with every committed UPDATE of the
// row (including the analysis_count trigger's), and hashing it with the id keeps it opaque.
export const etagSql = sql<string>`md5(${documents.id}::text || ':' || "documents"."xmin"::text)`;

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
export const withContent = { ...documentColumns, content_text: documents.content_text, etag: etagSql };

export type DocumentRow = { [K in keyof typeof documentColumns]: (typeof documents.$inferSelect)[K] };
export type FullDocumentRow = DocumentRow & { content_text: string | null; etag: string };

/** owner_id = the caller, always, unless admin powers apply; an owner_id filter can only narrow. */
export const ownerScope = (actor: Actor, ownerId?: string): SQL | undefined => scopeOf(actor, documents.owner_id, ownerId);

export async function getDocument(db: DbOrTx, actor: Actor, id: string, lock = false): Promise<FullDocumentRow | undefined> {
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

/** The batch's multi-row INSERT, without RETURNING; rows that collide with existing ones are skipped. */
export const batchInsert = (ownerId: string, inputs: DocumentCreate[]): SQL => sql`
    insert into ${documents} (owner_id, title, description, status, s3_bucket, s3_key, content_type, size_bytes, sha256, content_text, tags, metadata)
    select ${ownerId}::uuid, x.title, x.description, coalesce(x.status, 'uploaded'), x.s3_bucket, x.s3_key, x.content_type,
           x.size_bytes, x.sha256, x.content_text, coalesce(x.tags, '{}'), coalesce(x.metadata, '{}')
    from jsonb_to_recordset(${JSON.stringify(inputs)}::jsonb) as x(${BATCH_COLUMNS})
    on conflict do nothing`;

/** One multi-row INSERT; the rows that collided with existing ones are simply absent. */
export async function insertDocuments(db: DbOrTx, ownerId: string, inputs: DocumentCreate[]): Promise<FullDocumentRow[]> {
  const rows = await db.execute<FullDocumentRow>(sql`${batchInsert(ownerId, inputs)}
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

/** The patch of one visible row (the upserts' update branch). */
export async function updateDocument(db: DbOrTx, actor: Actor, id: string, patch: DocumentPatch): Promise<FullDocumentRow | undefined> {
  const [row] = await db.update(documents).set(patch).where(and(eq(documents.id, id), ownerScope(actor))).returning(withContent);
  return row;
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

