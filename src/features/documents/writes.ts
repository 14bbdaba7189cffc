import { randomUUID } from 'node:crypto';
import { requireActor, settleSession, writeTx, type Actor, type RequestContext } from '../../context/index.js';
import type { Tx } from '../../db/client.js';
import { AppError } from '../../errors/app-error.js';
import { auditedInsert, auditValues, mapReturned, NeedsScrub, scrubFailure } from '../audit/in-statement.js';
import { diff, recordAudit, recordAuditMany } from '../audit/record.js';
import { assertContentBytes, auditView, created, DOCUMENT_AUDIT, entry } from './audit.js';
import * as q from './queries.js';
import type { FullDocumentRow } from './queries.js';
import type { DocumentCreate } from './schemas.js';

// The documents' own write paths, beyond the resource writer's create/patch/delete: the
// set-based batch insert and the upserts (on (owner, s3_bucket, s3_key), or on the id).
// None carries a pending session check (context/session.ts): each settles it first.

// Every field of a document has an SQL form in the trail, so this is always defined.
const batchWithAudit = auditedInsert(q.withContent, DOCUMENT_AUDIT)!;

/**
 * All or nothing: one statement inserts every row and one audit row per document.
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
  await settleSession(actor);
  const write = async (insert: (tx: Tx) => Promise<FullDocumentRow[]>) =>
    writeTx(ctx.db, async (tx) => {
      const rows = await insert(tx);
      if (rows.length < inputs.length && !opts.ignoreDuplicates) {
        const written = new Set(rows.map((r) => JSON.stringify([r.s3_bucket, r.s3_key])));
        const taken = inputs
          .map((d, index) => ({ d, index }))
          .filter(({ d }) => !written.has(JSON.stringify([d.s3_bucket, d.s3_key])))
          .slice(0, 100)
          .map(({ d, index }) => ({ index, field: 's3_key', message: `${d.s3_bucket}/${d.s3_key} already exists` }));
        // Throwing rolls the whole INSERT back (its audit rows with it): nothing of the batch is written.
        throw new AppError('conflict', { message: 'Some documents already exist; nothing was written.', details: taken });
      }
      // RETURNING order is not guaranteed to follow VALUES order; answer in request order.
      const byKey = new Map(rows.map((r) => [JSON.stringify([r.s3_bucket, r.s3_key]), r]));
      return inputs.map((d) => byKey.get(JSON.stringify([d.s3_bucket, d.s3_key]))).filter((r): r is FullDocumentRow => r !== undefined);
    });
  const audit = auditValues(actor.id, 'document.batch_create', 'document', ctx.audit);
  try {
    // One statement writes the documents and their audit rows (built by PostgreSQL).
    return await write(async (tx) => {
      try {
        const raw = await tx.execute<Record<string, unknown>>(batchWithAudit(q.batchInsert(actor.id, inputs), audit));
        return raw.map((r) => mapReturned(q.withContent, r) as FullDocumentRow);
      } catch (err) {
        throw scrubFailure(err);
      }
    });
  } catch (err) {
    if (!(err instanceof NeedsScrub)) throw err;
  }
  // A metadata value holds a secret-looking key: the audit rows are built and scrubbed here.
  return write(async (tx) => {
    // Mapped as the statement above maps them, so both paths record size_bytes as a number.
    const rows = (await q.insertDocuments(tx, actor.id, inputs)).map((r) => mapReturned(q.withContent, r) as FullDocumentRow);
    await recordAuditMany(tx, ctx.audit, rows.map((row) => entry(actor, 'document.batch_create', row.id, created(row))));
    return rows;
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
  const actor = requireActor(ctx);
  await settleSession(actor);
  return writeTx(ctx.db, (tx) => upsertOne(tx, ctx, actor, input));
}

/** Several upserts on (owner, s3_bucket, s3_key), all or nothing, in request order. */
export async function upsertDocuments(ctx: RequestContext, inputs: DocumentCreate[]): Promise<{ row: FullDocumentRow; inserted: boolean }[]> {
  inputs.forEach((d) => assertContentBytes(d.content_text));
  const actor = requireActor(ctx);
  await settleSession(actor);
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
  await settleSession(actor);
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

type Row = Record<string, unknown>;

/** /rest/v1 `resolution=merge-duplicates`: on (s3_bucket, s3_key), or on the id (a missing id is a new row). */
export async function mergeDocuments(ctx: RequestContext, rows: Row[], target: string[]): Promise<Row[]> {
  const documents = rows as (DocumentCreate & { id?: string })[];
  // On (s3_bucket, s3_key) the key decides which row; an id in the body must not rewrite the primary key.
  if (target.join() !== 'id') return (await upsertDocuments(ctx, documents.map(({ id: _id, ...d }) => d))).map((r) => r.row);
  return (await upsertDocumentsById(ctx, documents.map((d) => ({ ...d, id: d.id ?? randomUUID() })))).map((r) => r.row);
}

/** /rest/v1 `resolution=ignore-duplicates`: the batch insert, skipping rows that exist. */
export async function insertIgnoringDuplicates(ctx: RequestContext, rows: Row[]): Promise<Row[]> {
  return createDocuments(ctx, rows as DocumentCreate[], { ignoreDuplicates: true });
}
