import { and, eq, sql, type SQL } from 'drizzle-orm';
import { PgDialect } from 'drizzle-orm/pg-core';
import type { Db, DbOrTx } from '../../db/client.js';
import { rawRows, statementCache } from '../../db/prepared.js';
import { documents } from '../../db/schema/index.js';
import type { Actor } from '../../context/index.js';
import { ownRows, ownerScope as scopeOf } from '../../query/index.js';
import type { DocumentCreate, DocumentPatch } from './schemas.js';
import { FRAGMENT_DELIMITER, MARK_END, MARK_START } from './snippet.js';

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

/** A search hit as the search statement returns it: the page's columns, its rank, and what its snippet is made from. */
export interface SearchHit extends DocumentRow {
  rank: number;
  /** The document's content_text, for its snippet only (never in the response). */
  hl_content: string | null;
  /** querytree of the user's query: PostgreSQL's parse, the same on every row. */
  hl_tree: string;
}

/** What a search statement's text depends on: the actor's scope, the optional filters, the carried session check. */
export interface SearchShape {
  admin: boolean;
  ownerFilter: boolean;
  status: boolean;
  /** The session check's column (context/session.ts), carried as the rows' last column. */
  carried?: SQL;
}

/** A search's values, by the statement's placeholder names. */
export type SearchValues = {
  q: string;
  limit: number;
  owner: string;
  owner_id?: string;
  status?: string;
};

/**
 * The search statement with placeholders for its values, one text per shape.
 * websearch_to_tsquery parses the user's text (it never raises, whatever the input), the
 * GIN index (owner first) finds matches, weights rank title (A) over description (B) over body
 * (C), and the page of hits comes back with each hit's text and the query's parse, from which
 * the snippets are built (snippet.ts). The page is limited before the outer select, so the
 * carried session check and querytree run once per hit of the page, not per match.
 */
export function searchStatement(shape: SearchShape): SQL {
  const scope = and(
    ownRows(shape.admin, documents.owner_id, sql.placeholder('owner')),
    shape.ownerFilter ? eq(documents.owner_id, sql.placeholder('owner_id')) : undefined,
    shape.status ? eq(documents.status, sql.placeholder('status')) : undefined,
  );
  return sql`
    with q as (select websearch_to_tsquery('english', ${sql.placeholder('q')}) as query),
    hits as (
      select ${sql.join(Object.values(documentColumns).map((c) => sql`${c}`), sql`, `)}, ${documents.content_text} as hl_content,
             ts_rank('{0.1, 0.2, 0.4, 1.0}', ${documents.search}, q.query) as rank
      from ${documents}, q
      where ${documents.search} @@ q.query ${scope ? sql`and ${scope}` : sql``}
      order by rank desc, ${documents.id}
      limit ${sql.placeholder('limit')}
    )
    select hits.*, querytree(q.query) as hl_tree${shape.carried ? sql`, ${shape.carried}` : sql``}
    from hits, q
    order by hits.rank desc, hits.id`;
}

// Rendered once per handle and shape (src/db/prepared.ts): drizzle rendering the statement's
// SQL objects on every search cost about a tenth of the API's CPU per search.
const dialect = new PgDialect();
const searchStatements = statementCache((db, _shape, shape: SearchShape) => {
  const statement = searchStatement(shape);
  const run = rawRows(db, { toSQL: () => dialect.sqlToQuery(statement) }, {});
  if (!run) throw new Error('searchDocuments runs on a pool handle, not in a transaction');
  return run;
});

export async function searchDocuments(db: Db, shape: SearchShape, values: SearchValues): Promise<Record<string, unknown>[]> {
  const key = `${shape.admin ? 'any' : 'own'} ${shape.ownerFilter ? 'owner' : '-'} ${shape.status ? 'status' : '-'} ${shape.carried ? 'carry' : 'plain'}`;
  return searchStatements(db, key, shape)(values);
}

/** A search statement's row (the carried column already taken off) typed, rewritten in place. */
export function toSearchHit(r: Record<string, unknown>): SearchHit {
  r.rank = Number(r.rank);
  return r as unknown as SearchHit;
}

const HEADLINE_OPTIONS = `StartSel=${MARK_START}, StopSel=${MARK_END}, MaxWords=35, MinWords=15, MaxFragments=2, FragmentDelimiter="${FRAGMENT_DELIMITER}"`;

/**
 * ts_headline of each text for the user's query, with MARK_START/MARK_END around matches: the
 * snippets of the hits whose words the stems did not find (snippet.ts). No table is read: the
 * texts are the hits' own, already read in the owner's scope.
 */
export async function headlines(db: Db, q: string, texts: string[]): Promise<string[]> {
  const rows = await db.execute<{ headline: string }>(sql`
    select ts_headline('english', u.t, websearch_to_tsquery('english', ${q}), ${HEADLINE_OPTIONS}) as headline
    from jsonb_array_elements_text(${JSON.stringify(texts)}::jsonb) with ordinality u(t, n)
    order by u.n`);
  return rows.map((r) => r.headline);
}
