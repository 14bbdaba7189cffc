import { sql, type SQL } from 'drizzle-orm';
import { requireActor, type RequestContext } from '../../context/index.js';
import { AppError } from '../../errors/app-error.js';
import { apiTimestamp } from '../../lib/timestamp.js';
import { allOf, bindFilters, compileFilters, compileOrder, decodeCursor, keysetBound, keysetPage, parseSortKey, type Filter, type KeysetPage } from '../../query/index.js';
import { resourceQueries as rq, resourceWriter as writer } from '../../resources/index.js';
import { documentsResource as resource } from './documents.resource.js';
import * as q from './queries.js';
import { etagSql, type DocumentRow, type FullDocumentRow, type SearchHit } from './queries.js';
import { buildSnippet, fallbackText, headlineHtml, snippetQuery } from './snippet.js';
import type { DocumentCreate, DocumentPatch, ListFilters, ListQuery, SearchQuery } from './schemas.js';

export { checkContentBytes } from './audit.js';
export { createDocuments, upsertDocument } from './writes.js';

// The documents use cases. Writes each run in one transaction with their audit row, so the
// trail and the data never disagree; reads go to the context's read handle. Every statement
// is scoped by the context's actor (queries.ownerScope).

/** A row as the API returns it: timestamps in RFC 3339, bigint as a number (a copy). */
export function toDocument<T extends DocumentRow>(row: T): T {
  return asApiDocument({ ...row });
}

/** toDocument on a row the caller owns (fresh from the database): rewritten in place, no copy. */
function asApiDocument<T extends DocumentRow>(row: T): T {
  row.size_bytes = row.size_bytes == null ? null : Number(row.size_bytes);
  row.created_at = apiTimestamp(row.created_at);
  row.updated_at = apiTimestamp(row.updated_at);
  return row;
}

type SnippetOf = { snippet: string };
/** A search hit as the API returns it. */
export type SearchResult = DocumentRow & { rank: number } & SnippetOf;

// ---- Reads (the context's read handle: the replica, or the primary right after a write).

// ORDER BY per sort key (six, ListQuery's enum), built once: drizzle's SQL objects are reusable.
const orders = new Map<string, SQL[]>();
function orderOf(sort: string, terms: ReturnType<typeof parseSortKey>): SQL[] {
  let order = orders.get(sort);
  if (!order) orders.set(sort, (order = compileOrder(resource.spec, terms)));
  return order;
}

/** One page of the caller's documents (every document for an admin), newest first by default. */
export async function listDocuments(ctx: RequestContext, query: ListQuery): Promise<KeysetPage<DocumentRow> & { total?: number }> {
  const { sort = '-created_at', limit = 50, cursor, count, ...filters } = query;
  const actor = requireActor(ctx);
  const terms = parseSortKey(resource.spec, sort);
  const after = cursor ? keysetBound(resource.spec, terms, decodeCursor(resource.spec, terms, cursor)) : undefined;
  const rows = (await rq.selectRows(ctx.readDb, actor, resource, {
    columns: q.documentColumns,
    where: allOf(bindFilters(resource.spec, listFilters(filters)), after),
    order: orderOf(sort, terms),
    limit: limit + 1,
    shape: sort,
  })) as DocumentRow[];
  const page = keysetPage(resource.spec, terms, rows, limit, asApiDocument);
  return count === 'exact' ? { ...page, total: await countDocuments(ctx, filters) } : page;
}

/** The list's query-string filters over the resource's filterable columns; an owner_id (admins) can only narrow the owner scope. */
function listFilters(f: ListFilters): Filter[] {
  const filters: Filter[] = [];
  if (f.owner_id) filters.push({ column: 'owner_id', op: 'eq', value: f.owner_id });
  if (f.status) filters.push({ column: 'status', op: 'eq', value: f.status });
  if (f.tag?.length) filters.push({ column: 'tags', op: 'cs', value: f.tag });
  if (f.created_after) filters.push({ column: 'created_at', op: 'gt', value: f.created_after });
  if (f.created_before) filters.push({ column: 'created_at', op: 'lt', value: f.created_before });
  return filters;
}

export async function countDocuments(ctx: RequestContext, filters: ListFilters): Promise<number> {
  return rq.countRows(ctx.readDb, requireActor(ctx), resource, compileFilters(resource.spec, listFilters(filters)));
}

/** Ranked full-text hits, each with its snippet as safe HTML (snippet.ts). */
export async function searchDocuments(ctx: RequestContext, query: SearchQuery): Promise<SearchResult[]> {
  const { q: text, limit = 20, status, owner_id } = query;
  const actor = requireActor(ctx);
  const db = ctx.readDb;
  const rows = await rq.carryingRead(db, actor, (check) =>
    q.searchDocuments(
      db,
      { admin: actor.admin, ownerFilter: owner_id !== undefined, status: status !== undefined, carried: check && rq.carriedColumn(check) },
      { q: text, limit, owner: actor.id, ...(owner_id !== undefined && { owner_id }), ...(status !== undefined && { status }), ...check?.params },
    ),
  );
  if (!rows.length) return [];
  // Each row becomes its result in place (a copy per hit cost more than its snippet): the
  // snippet is added, the text dropped; hl_tree stays behind, and the response schema sends
  // only the contract's fields.
  const hits = rows.map(q.toSearchHit);
  const words = snippetQuery(hits[0]!.hl_tree);
  const missing: { hit: SearchHit; text: string }[] = [];
  for (const hit of hits) {
    const source = { title: hit.title, description: hit.description, content: hit.hl_content };
    const snippet = buildSnippet(source, words);
    if (snippet === null) missing.push({ hit, text: fallbackText(source) });
    (hit as SearchHit & { snippet: string }).snippet = snippet ?? '';
    hit.hl_content = null;
    asApiDocument(hit);
  }
  if (missing.length) {
    const found = await q.headlines(db, text, missing.map((m) => m.text));
    missing.forEach((m, k) => ((m.hit as SearchHit & { snippet: string }).snippet = headlineHtml(found[k]!)));
  }
  return hits as unknown as SearchResult[];
}

/** The full document (content_text and etag included); 404 when the caller cannot see it. */
export async function getDocument(ctx: RequestContext, id: string): Promise<FullDocumentRow> {
  const row = await rq.rowById(ctx.readDb, requireActor(ctx), resource, id);
  if (!row) throw new AppError('not_found');
  return row as FullDocumentRow;
}

// ---- Writes: the resource writer (one transaction with the audit rows, owner-scoped).

export async function createDocument(ctx: RequestContext, input: DocumentCreate): Promise<FullDocumentRow> {
  const [row] = await writer.createRows(ctx, resource, [input]);
  return row as FullDocumentRow;
}

/** If-Match as part of the UPDATE's WHERE, so a concurrent writer can never slip in between check and write. */
const ifMatch = (etags: string[] | '*' | undefined): SQL | undefined =>
  etags && etags !== '*' ? sql`${etagSql} in (${sql.join(etags.map((e) => sql`${e}`), sql`, `)})` : undefined;

export async function updateDocument(ctx: RequestContext, id: string, patch: DocumentPatch, etags: string[] | '*' | undefined): Promise<FullDocumentRow> {
  return (await writer.updateById(ctx, resource, id, patch, ifMatch(etags))) as FullDocumentRow;
}

export async function deleteDocument(ctx: RequestContext, id: string, etags: string[] | '*' | undefined): Promise<void> {
  await writer.deleteById(ctx, resource, id, ifMatch(etags));
}
