import { createHash } from 'node:crypto';
import type { SQL } from 'drizzle-orm';
import { requireActor, writeTx, type Actor, type RequestContext } from '../../context/index.js';
import type { Tx } from '../../db/client.js';
import { AppError } from '../../errors/app-error.js';
import { apiTimestamp } from '../../lib/timestamp.js';
import { keysetPage, parseSortKey, type KeysetPage } from '../../query/index.js';
import { diff, recordAudit, recordAuditMany, type AuditEntry } from '../audit/record.js';
import * as q from './queries.js';
import type { DocumentRow, FullDocumentRow, SearchRow } from './queries.js';
import { CONTENT_TEXT_MAX_BYTES, type DocumentCreate, type DocumentPatch, type ListFilters, type ListQuery, type SearchQuery } from './schemas.js';

// The documents use cases. Writes each run in one transaction with their audit row, so the
// trail and the data never disagree; reads go to the context's read handle. Every statement
// is scoped by the context's actor (queries.ownerScope).

/** A row as the API returns it: timestamps in RFC 3339, bigint as a number. */
export function toDocument<T extends DocumentRow>(row: T): T {
  return {
    ...row,
    size_bytes: row.size_bytes == null ? null : Number(row.size_bytes),
    created_at: apiTimestamp(row.created_at),
    updated_at: apiTimestamp(row.updated_at),
  };
}

// ---- Reads (the context's read handle: the replica, or the primary right after a write).

/** One page of the caller's documents (every document for an admin), newest first by default. */
export async function listDocuments(ctx: RequestContext, query: ListQuery): Promise<KeysetPage<DocumentRow> & { total?: number }> {
  const { sort = '-created_at', limit = 50, cursor, count, ...filters } = query;
  const actor = requireActor(ctx);
  const terms = parseSortKey(q.documentTable, sort);
  const rows = await q.listDocuments(ctx.readDb, actor, filters, terms, limit, cursor);
  const page = keysetPage(q.documentTable, terms, rows, limit, toDocument);
  return count === 'exact' ? { ...page, total: await q.countDocuments(ctx.readDb, actor, filters) } : page;
}

export async function countDocuments(ctx: RequestContext, filters: ListFilters): Promise<number> {
  return q.countDocuments(ctx.readDb, requireActor(ctx), filters);
}

/** Ranked full-text hits; the snippet keeps ts_headline's markers (the route renders them). */
export async function searchDocuments(ctx: RequestContext, query: SearchQuery): Promise<SearchRow[]> {
  const { q: text, limit = 20, status, owner_id } = query;
  const rows = await q.searchDocuments(ctx.readDb, requireActor(ctx), text, limit, status, owner_id);
  return rows.map(toDocument);
}

/** The full document (content_text and etag included); 404 when the caller cannot see it. */
export async function getDocument(ctx: RequestContext, id: string): Promise<FullDocumentRow> {
  const row = await q.getDocument(ctx.readDb, requireActor(ctx), id);
  if (!row) throw new AppError('not_found');
  return row;
}

/** 1 MiB of UTF-8 is the limit (and a database CHECK); schema maxLength counts characters. */
export function checkContentBytes(content: string | null | undefined, field = 'content_text'): string | null {
  if (content != null && Buffer.byteLength(content, 'utf8') > CONTENT_TEXT_MAX_BYTES) return `${field} must be at most ${CONTENT_TEXT_MAX_BYTES} bytes of UTF-8`;
  return null;
}

function assertContentBytes(content: string | null | undefined) {
  const problem = checkContentBytes(content);
  if (problem) throw new AppError('validation_failed', { message: problem, details: [{ field: 'body.content_text', message: problem }] });
}

// What the trail keeps of a document: every field, except the extracted text, which is
// summarised (size and hash) so a 1 MB body is not copied into every audit row.
type AuditView = Record<string, unknown>;
function auditView(row: Partial<FullDocumentRow>): AuditView {
  const { etag: _e, created_at: _c, updated_at: _u, analysis_count: _a, id: _i, ...fields } = row;
  if (Object.hasOwn(fields, 'content_text')) {
    const text = fields.content_text;
    fields.content_text = text == null ? null : ({ bytes: Buffer.byteLength(text), sha256: createHash('sha256').update(text).digest('hex') } as unknown as string);
  }
  return fields;
}
const created = (row: FullDocumentRow) => Object.fromEntries(Object.entries(auditView(row)).map(([k, v]) => [k, { before: null, after: v }]));
const removed = (row: FullDocumentRow) => Object.fromEntries(Object.entries(auditView(row)).map(([k, v]) => [k, { before: v, after: null }]));

const entry = (actor: Actor, action: string, id: string, changes: Record<string, unknown>): AuditEntry => ({
  actor_id: actor.id,
  action,
  entity_type: 'document',
  entity_id: id,
  changes,
});

const conflict = (bucket: string, key: string, index?: number) =>
  new AppError('conflict', { message: 'A document with this s3_bucket and s3_key already exists.', details: [
    { field: 's3_key', message: `${bucket}/${key} already exists`, ...(index === undefined ? {} : { index }) },
  ] });

export async function createDocument(ctx: RequestContext, input: DocumentCreate): Promise<FullDocumentRow> {
  assertContentBytes(input.content_text);
  const actor = requireActor(ctx);
  return writeTx(ctx.db, async (tx) => {
    const row = await q.insertDocument(tx, actor.id, input);
    if (!row) throw conflict(input.s3_bucket, input.s3_key);
    await recordAudit(tx, ctx.audit, entry(actor, 'document.create', row.id, created(row)));
    return row;
  });
}

/**
 * All or nothing: one INSERT of every row, one audit row per document in one more INSERT.
 * With ignoreDuplicates (PostgREST's `resolution=ignore-duplicates`) rows that collide with
 * existing ones, or with earlier rows of the batch, are skipped instead, and only the
 * inserted rows are returned.
 */
export async function createDocuments(ctx: RequestContext, inputs: DocumentCreate[], opts: { ignoreDuplicates?: boolean } = {}): Promise<FullDocumentRow[]> {
  const seen = new Map<string, number>();
  const dupes: { index: number; field: string; message: string }[] = [];
  inputs.forEach((d, index) => {
    const k = JSON.stringify([d.s3_bucket, d.s3_key]);
    const first = seen.get(k);
    if (first === undefined) seen.set(k, index);
    else dupes.push({ index, field: 's3_key', message: `duplicates item ${first} (${d.s3_bucket}/${d.s3_key})` });
  });
  if (opts.ignoreDuplicates) inputs = inputs.filter((_, index) => !dupes.some((d) => d.index === index));
  else if (dupes.length) throw new AppError('conflict', { message: 'The batch contains the same s3_bucket and s3_key more than once.', details: dupes.slice(0, 100) });

  const actor = requireActor(ctx);
  return writeTx(ctx.db, async (tx) => {
    const rows = await q.insertDocuments(tx, actor.id, inputs);
    if (rows.length < inputs.length && !opts.ignoreDuplicates) {
      const written = new Set(rows.map((r) => JSON.stringify([r.s3_bucket, r.s3_key])));
      const taken = inputs
        .map((d, index) => ({ d, index }))
        .filter(({ d }) => !written.has(JSON.stringify([d.s3_bucket, d.s3_key])))
        .slice(0, 100)
        .map(({ d, index }) => ({ index, field: 's3_key', message: `${d.s3_bucket}/${d.s3_key} already exists` }));
      // Throwing rolls the whole INSERT back: nothing of the batch is written.
      throw new AppError('conflict', { message: 'Some documents already exist; nothing was written.', details: taken });
    }
    await recordAuditMany(
      tx,
      ctx.audit,
      rows.map((row) => entry(actor, 'document.batch_create', row.id, created(row))),
    );
    // RETURNING order is not guaranteed to follow VALUES order; answer in request order.
    const byKey = new Map(rows.map((r) => [JSON.stringify([r.s3_bucket, r.s3_key]), r]));
    return inputs.map((d) => byKey.get(JSON.stringify([d.s3_bucket, d.s3_key]))).filter((r): r is FullDocumentRow => r !== undefined);
  });
}

async function upsertOne(tx: Tx, ctx: RequestContext, actor: Actor, input: DocumentCreate): Promise<{ row: FullDocumentRow; inserted: boolean }> {
  // Locks the existing row (if any) so the audit's "before" is what the upsert overwrote.
  const before = await q.findByS3Key(tx, actor.id, input.s3_bucket, input.s3_key, true);
  const { inserted, ...row } = await q.upsertDocument(tx, actor.id, input);
  const changes = inserted || !before ? created(row) : diff(auditView(before), auditView(row));
  await recordAudit(tx, ctx.audit, { ...entry(actor, 'document.upsert', row.id, changes) });
  return { row, inserted };
}

export async function upsertDocument(ctx: RequestContext, input: DocumentCreate): Promise<{ row: FullDocumentRow; inserted: boolean }> {
  assertContentBytes(input.content_text);
  return writeTx(ctx.db, (tx) => upsertOne(tx, ctx, requireActor(ctx), input));
}

/** Several upserts on (owner, s3_bucket, s3_key), all or nothing, in request order. */
export async function upsertDocuments(ctx: RequestContext, inputs: DocumentCreate[]): Promise<{ row: FullDocumentRow; inserted: boolean }[]> {
  inputs.forEach((d) => assertContentBytes(d.content_text));
  const actor = requireActor(ctx);
  return writeTx(ctx.db, async (tx) => {
    const results: { row: FullDocumentRow; inserted: boolean }[] = [];
    for (const input of inputs) results.push(await upsertOne(tx, ctx, actor, input));
    return results;
  });
}

/**
 * Upserts on the primary key (PostgREST's default upsert target): an id the caller owns is
 * updated with the given fields, an unknown id is inserted with it. An id that belongs to
 * someone else collides on insert and answers conflict, as the database would.
 */
export async function upsertDocumentsById(ctx: RequestContext, inputs: (DocumentCreate & { id: string })[]): Promise<{ row: FullDocumentRow; inserted: boolean }[]> {
  inputs.forEach((d) => assertContentBytes(d.content_text));
  const actor = requireActor(ctx);
  return writeTx(ctx.db, async (tx) => {
    const results: { row: FullDocumentRow; inserted: boolean }[] = [];
    for (const { id, ...input } of inputs) {
      const before = await q.getDocument(tx, actor, id, true);
      if (before) {
        const row = (await q.updateDocument(tx, actor, id, input))!;
        await recordAudit(tx, ctx.audit, entry(actor, 'document.upsert', id, diff(auditView(before), auditView(row))));
        results.push({ row, inserted: false });
        continue;
      }
      const row = await q.insertDocument(tx, actor.id, { ...input, id } as DocumentCreate);
      if (!row) throw new AppError('conflict', { message: 'A document with this id, or this s3_bucket and s3_key, already exists.' });
      await recordAudit(tx, ctx.audit, entry(actor, 'document.upsert', row.id, created(row)));
      results.push({ row, inserted: true });
    }
    return results;
  });
}

/**
 * Filtered bulk update (/rest/v1 PATCH): the rows it touches are locked, changed in one
 * statement and audited one by one, in one transaction. Only the caller's rows can match.
 */
export async function updateDocumentsWhere(ctx: RequestContext, where: SQL, patch: DocumentPatch): Promise<FullDocumentRow[]> {
  assertContentBytes(patch.content_text);
  const actor = requireActor(ctx);
  return writeTx(ctx.db, async (tx) => {
    const before = new Map((await q.lockDocumentsWhere(tx, actor, where)).map((r) => [r.id, r]));
    const rows = await q.updateDocumentsByIds(tx, actor, [...before.keys()], patch);
    await recordAuditMany(tx, ctx.audit, rows.map((row) => entry(actor, 'document.update', row.id, diff(auditView(before.get(row.id)!), auditView(row)))));
    return rows;
  });
}

/** Filtered bulk delete (/rest/v1 DELETE): returns the rows as they were. */
export async function deleteDocumentsWhere(ctx: RequestContext, where: SQL): Promise<FullDocumentRow[]> {
  const actor = requireActor(ctx);
  return writeTx(ctx.db, async (tx) => {
    const before = await q.lockDocumentsWhere(tx, actor, where);
    const deleted = new Set(await q.deleteDocumentsByIds(tx, actor, before.map((r) => r.id)));
    const rows = before.filter((r) => deleted.has(r.id));
    await recordAuditMany(tx, ctx.audit, rows.map((row) => entry(actor, 'document.delete', row.id, removed(row))));
    return rows;
  });
}

export async function updateDocument(ctx: RequestContext, id: string, patch: DocumentPatch, etags: string[] | '*' | undefined): Promise<FullDocumentRow> {
  assertContentBytes(patch.content_text);
  const actor = requireActor(ctx);
  return writeTx(ctx.db, async (tx) => {
    const before = await q.getDocument(tx, actor, id, true);
    if (!before) throw new AppError('not_found');
    const row = await q.updateDocument(tx, actor, id, patch, etags);
    if (!row) throw new AppError('precondition_failed');
    const changes = diff(auditView(before), auditView(row));
    await recordAudit(tx, ctx.audit, entry(actor, 'document.update', id, changes));
    return row;
  });
}

export async function deleteDocument(ctx: RequestContext, id: string, etags: string[] | '*' | undefined): Promise<void> {
  const actor = requireActor(ctx);
  await writeTx(ctx.db, async (tx) => {
    const before = await q.getDocument(tx, actor, id, true);
    if (!before) throw new AppError('not_found');
    if (!(await q.deleteDocument(tx, actor, id, etags))) throw new AppError('precondition_failed');
    await recordAudit(tx, ctx.audit, entry(actor, 'document.delete', id, removed(before)));
  });
}
