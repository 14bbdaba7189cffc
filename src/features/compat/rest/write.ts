import { randomUUID } from 'node:crypto';
import type { SQL } from 'drizzle-orm';
import type { TSchema } from '@sinclair/typebox';
import type { RequestContext } from '../../../context/index.js';
import { AppError } from '../../../errors/app-error.js';
import { issueField } from '../../../errors/validation.js';
import { isUuid } from '../../../lib/uuid.js';
import * as analysesService from '../../analyses/service.js';
import type { AnalysisCreate, AnalysisPatch } from '../../analyses/schemas.js';
import * as documentsService from '../../documents/service.js';
import type { DocumentCreate, DocumentPatch } from '../../documents/schemas.js';
import { invalidBody, PostgrestError, rlsViolation, unknownBodyColumn } from './errors.js';
import type { Preferences } from './parser.js';
import type { Resource } from './resources.js';

// Writes for /rest/v1: PostgREST's body rules (unknown keys, `columns=`, `missing=`) checked
// here, then the data API's own write functions (one transaction, audit rows included).

/** A compiled validator, as the route's Ajv returns it (same coercion and formats as /api/v1). */
export type Validate = ((value: unknown) => boolean) & { errors?: { instancePath: string; params: Record<string, unknown>; message?: string }[] | null };

export interface WriteInput {
  resource: Resource;
  /** The request's context, admin powers off (owner-only row-level security). */
  ctx: RequestContext;
  /** The signed-in user's id. */
  userId: string;
  /** Compiles a body schema with the route's validator. */
  compile: (schema: TSchema) => Validate;
}

type Row = Record<string, unknown>;

/**
 * The data API's own schema for the row, checked with the route's Ajv (the same coercion and
 * formats as /api/v1), reported as PostgreSQL would: 23502 for a missing or null required
 * column, 22P02 for a value of the wrong type or shape.
 */
function databaseCheck(compile: WriteInput['compile'], resource: Resource, schema: Resource['create'], row: Row): void {
  const check = compile(schema);
  // Ajv's coercion may rewrite a null (to "" for a string branch): remember them first.
  const nulls = new Set(Object.keys(row).filter((k) => row[k] === null));
  if (check(row)) return;
  const [e] = check.errors ?? [];
  const issue = issueField(e);
  const column = (issue.missing ? issue.property : issue.path[0]) ?? 'body';
  if (issue.missing || nulls.has(column)) {
    throw new PostgrestError(400, '23502', `null value in column "${column}" of relation "${resource.name}" violates not-null constraint`);
  }
  throw new PostgrestError(400, '22P02', `invalid input for column "${column}" of relation "${resource.name}"`, e?.message ?? null);
}

/**
 * One body object as the data API's input: unknown keys are PGRST204; owner_id may only name
 * the caller (row-level security's WITH CHECK, 42501 otherwise); columns the database keeps
 * (created_at, updated_at, analysis_count) are ignored, so a row read earlier can be sent back.
 */
function cleanRow(input: WriteInput, body: unknown, allowed: Set<string> | null, missingAsNull: string[], keep: string[]): Row {
  const { resource, userId } = input;
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw invalidBody('Each row must be a JSON object');
  // Only allowlisted column names are ever assigned; the row has no prototype all the same.
  const row: Row = Object.create(null);
  for (const [key, value] of Object.entries(body as Row)) {
    if (!Object.hasOwn(resource.columns, key)) throw unknownBodyColumn(resource.name, key);
    if (allowed && !allowed.has(key)) continue;
    if (key === 'owner_id') {
      if (value !== userId) throw rlsViolation(resource.name, false);
      continue;
    }
    if (resource.readOnly.includes(key)) continue;
    if (key === 'id' && !keep.includes('id')) continue;
    row[key] = value;
  }
  for (const key of missingAsNull) if (!Object.hasOwn(row, key) && !resource.readOnly.includes(key) && key !== 'owner_id') row[key] = null;
  return row;
}

function split<T extends string>(row: Row, keys: T[]): [Record<T, unknown>, Row] {
  const picked = {} as Record<T, unknown>;
  const rest: Row = { ...row };
  for (const k of keys) {
    picked[k] = rest[k];
    delete rest[k];
  }
  return [picked, rest];
}

const ON_CONFLICT_S3 = ['s3_bucket', 's3_key'];

/**
 * A body value quoted in an error, as PostgreSQL quotes the text it refused. Never String() of
 * an object or array: that recurses through every nested level of what the client sent.
 */
function valueText(value: unknown): string {
  if (typeof value === 'string') return value.slice(0, 100);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return Array.isArray(value) ? '[...]' : '{...}';
}

function upsertTarget(resource: Resource, onConflict: string[] | undefined): 'id' | 's3' {
  const target = (onConflict ?? ['id']).filter((c) => c !== 'owner_id').sort();
  if (target.length === 1 && target[0] === 'id') return 'id';
  if (resource.name === 'documents' && target.join() === ON_CONFLICT_S3.join()) return 's3';
  throw new PostgrestError(400, '42P10', 'there is no unique or exclusion constraint matching the ON CONFLICT specification');
}

/** POST: one object or an array, insert or upsert; returns the written rows (full). */
export async function insertRows(input: WriteInput, body: unknown, prefs: Preferences, columns?: string[], onConflict?: string[]): Promise<Row[]> {
  const { resource, ctx, compile } = input;
  const items = Array.isArray(body) ? body : [body];
  if (body === undefined || body === null || items.length === 0) return [];
  if (columns) for (const c of columns) if (!Object.hasOwn(resource.columns, c)) throw unknownBodyColumn(resource.name, c);
  // PostgREST fills the columns a row lacks with NULL unless `Prefer: missing=default`.
  // (Only real columns: a key that is not one is PGRST204 for the row that carries it.)
  const declared = columns ?? (Array.isArray(body) ? [...new Set(items.flatMap((i) => (i && typeof i === 'object' ? Object.keys(i) : [])))].filter((k) => Object.hasOwn(resource.columns, k)) : []);
  const missingAsNull = prefs.missing === 'default' ? [] : declared;
  const allowed = columns ? new Set(columns) : null;
  const rows = items.map((item) => cleanRow(input, item, allowed, missingAsNull, ['id']));

  if (resource.name === 'analyses') {
    if (prefs.resolution) throw new PostgrestError(400, '42P10', 'upsert on analyses is not supported by offbase; insert, or update with PATCH');
    const inputs = rows.map((row) => {
      const [{ document_id, id }, rest] = split(row, ['document_id', 'id']);
      if (id != null) throw new PostgrestError(403, '42501', 'analyses ids are assigned by the server');
      if (!isUuid(document_id)) {
        if (document_id == null) throw new PostgrestError(400, '23502', 'null value in column "document_id" of relation "analyses" violates not-null constraint');
        throw new PostgrestError(400, '22P02', `invalid input syntax for type uuid: "${valueText(document_id)}"`);
      }
      databaseCheck(compile, resource, resource.create, rest);
      return { ...(rest as AnalysisCreate), document_id };
    });
    try {
      return await analysesService.createAnalyses(ctx, inputs);
    } catch (err) {
      // A document the caller cannot see: what owner-only RLS answers for the new row.
      if (err instanceof AppError && err.code === 'not_found') throw rlsViolation(resource.name, false);
      throw err;
    }
  }

  const documents = rows.map((row) => {
    const [{ id }, rest] = split(row, ['id']);
    if (id != null && !isUuid(id)) throw new PostgrestError(400, '22P02', `invalid input syntax for type uuid: "${valueText(id)}"`);
    databaseCheck(compile, resource, resource.create, rest);
    const tooLong = documentsService.checkContentBytes((rest as DocumentCreate).content_text);
    if (tooLong) throw new PostgrestError(400, '23514', 'new row for relation "documents" violates check constraint "documents_content_text_check"', tooLong);
    return { ...(rest as DocumentCreate), ...(id == null ? {} : { id: id as string }) };
  });
  // The batch INSERT assigns ids itself; a client-chosen id goes through a single insert or an upsert.
  if (Array.isArray(body) && !prefs.resolution && documents.some((d) => Object.hasOwn(d, 'id'))) {
    throw new PostgrestError(400, '0A000', 'client-chosen ids are supported on single-row inserts and on upserts, not in array inserts', null, 'Insert the rows one by one, or use upsert().');
  }
  if (prefs.resolution === 'ignore-duplicates') {
    if (documents.some((d) => Object.hasOwn(d, 'id'))) throw new PostgrestError(400, '0A000', 'ignoreDuplicates with client-chosen ids is not supported by offbase');
    return documentsService.createDocuments(ctx, documents as DocumentCreate[], { ignoreDuplicates: true });
  }
  if (prefs.resolution === 'merge-duplicates') {
    // On (s3_bucket, s3_key) the key decides which row; an id in the body must not rewrite the primary key.
    if (upsertTarget(resource, onConflict) === 's3') return (await documentsService.upsertDocuments(ctx, documents.map(({ id: _id, ...d }: DocumentCreate & { id?: string }) => d))).map((r) => r.row);
    const withIds = documents.map((d) => ({ ...d, id: (d as { id?: string }).id ?? randomUUID() }));
    return (await documentsService.upsertDocumentsById(ctx, withIds)).map((r) => r.row);
  }
  if (!Array.isArray(body)) return [await documentsService.createDocument(ctx, documents[0]!)];
  return documentsService.createDocuments(ctx, documents);
}

/** PATCH: the same change on every visible row the filter matches. */
export async function updateRows(input: WriteInput, body: unknown, where: SQL): Promise<Row[]> {
  const { resource, ctx, compile } = input;
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw invalidBody('PATCH takes one JSON object');
  const patch = cleanRow(input, body, null, [], []);
  if (resource.name === 'analyses' && Object.hasOwn(patch, 'document_id')) throw new PostgrestError(403, '42501', 'the document of an analysis cannot be changed');
  if (Object.keys(patch).length === 0) return [];
  databaseCheck(compile, resource, resource.patch, patch);
  if (resource.name === 'analyses') return analysesService.updateAnalysesWhere(ctx, where, patch as AnalysisPatch);
  return documentsService.updateDocumentsWhere(ctx, where, patch as DocumentPatch);
}

/** DELETE: every visible row the filter matches; returns them as they were. */
export async function deleteRows(input: WriteInput, where: SQL): Promise<Row[]> {
  const { resource, ctx } = input;
  if (resource.name === 'analyses') return analysesService.deleteAnalysesWhere(ctx, where);
  return documentsService.deleteDocumentsWhere(ctx, where);
}
