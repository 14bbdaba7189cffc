import type { SQL } from 'drizzle-orm';
import type { TSchema } from '@sinclair/typebox';
import type { RequestContext } from '../../../context/index.js';
import { AppError } from '../../../errors/app-error.js';
import { issueField } from '../../../errors/validation.js';
import { isUuid } from '../../../lib/uuid.js';
import { resourceWriter as writer, type Resource } from '../../../resources/index.js';
import { invalidBody, PostgrestError, rlsViolation, unknownBodyColumn } from './errors.js';
import type { Preferences } from './parser.js';

// Writes for /rest/v1: PostgREST's body rules (unknown keys, `columns=`, `missing=`) checked
// here, then the resource writer or the resource's own write paths (one transaction, audit
// rows included). What differs between tables is a property of their declaration.

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
function databaseCheck(compile: WriteInput['compile'], resource: Resource, schema: TSchema, row: Row): void {
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
    if (key === resource.declaration.owner) {
      if (value !== userId) throw rlsViolation(resource.name, false);
      continue;
    }
    if (resource.readOnly.includes(key)) continue;
    if (key === 'id' && !keep.includes('id')) continue;
    row[key] = value;
  }
  for (const key of missingAsNull) if (!Object.hasOwn(row, key) && !resource.readOnly.includes(key) && key !== resource.declaration.owner) row[key] = null;
  return row;
}

/**
 * A body value quoted in an error, as PostgreSQL quotes the text it refused. Never String() of
 * an object or array: that recurses through every nested level of what the client sent.
 */
function valueText(value: unknown): string {
  if (typeof value === 'string') return value.slice(0, 100);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return Array.isArray(value) ? '[...]' : '{...}';
}

/** The on_conflict target: the primary key, or one of the unique column sets the resource declares. */
function upsertTarget(resource: Resource, onConflict: string[] | undefined): string[] {
  const target = (onConflict ?? ['id']).filter((c) => c !== resource.declaration.owner).sort();
  if (target.join() === 'id') return ['id'];
  const declared = resource.writes.upsert?.targets.find((t) => [...t].sort().join() === target.join());
  if (declared) return declared;
  throw new PostgrestError(400, '42P10', 'there is no unique or exclusion constraint matching the ON CONFLICT specification');
}

const uuidError = (column: string, relation: string, value: unknown) =>
  value == null
    ? new PostgrestError(400, '23502', `null value in column "${column}" of relation "${relation}" violates not-null constraint`)
    : new PostgrestError(400, '22P02', `invalid input syntax for type uuid: "${valueText(value)}"`);

/** One body row as the writer's input: the id and the parent key checked, the rest against the create schema and the CHECKs. */
function insertInput(input: WriteInput, row: Row): Row {
  const { resource, compile } = input;
  const { id, ...rest } = row;
  if (id != null && !resource.clientIds) throw new PostgrestError(403, '42501', `${resource.name} ids are assigned by the server`);
  if (id != null && !isUuid(id)) throw uuidError('id', resource.name, id);
  const parentKey = resource.parent?.key;
  const parentValue = parentKey ? rest[parentKey] : undefined;
  if (parentKey) {
    if (!isUuid(parentValue)) throw uuidError(parentKey, resource.name, parentValue);
    delete rest[parentKey];
  }
  databaseCheck(compile, resource, resource.schemas.create, rest);
  for (const check of resource.checks) {
    const problem = check.test(rest);
    if (problem) throw new PostgrestError(400, '23514', `new row for relation "${resource.name}" violates check constraint "${check.constraint}"`, problem);
  }
  return { ...rest, ...(parentKey ? { [parentKey]: parentValue } : {}), ...(id == null ? {} : { id }) };
}

/** POST: one object or an array, insert or upsert; returns the written rows (full). */
export async function insertRows(input: WriteInput, body: unknown, prefs: Preferences, columns?: string[], onConflict?: string[]): Promise<Row[]> {
  const { resource, ctx } = input;
  const items = Array.isArray(body) ? body : [body];
  if (body === undefined || body === null || items.length === 0) return [];
  if (columns) for (const c of columns) if (!Object.hasOwn(resource.columns, c)) throw unknownBodyColumn(resource.name, c);
  const upsert = resource.writes.upsert;
  if (prefs.resolution && !upsert) throw new PostgrestError(400, '42P10', `upsert on ${resource.name} is not supported by offbase; insert, or update with PATCH`);
  // PostgREST fills the columns a row lacks with NULL unless `Prefer: missing=default`.
  // (Only real columns: a key that is not one is PGRST204 for the row that carries it.)
  const declared = columns ?? (Array.isArray(body) ? [...new Set(items.flatMap((i) => (i && typeof i === 'object' ? Object.keys(i) : [])))].filter((k) => Object.hasOwn(resource.columns, k)) : []);
  const missingAsNull = prefs.missing === 'default' ? [] : declared;
  const allowed = columns ? new Set(columns) : null;
  const rows = items.map((item) => insertInput(input, cleanRow(input, item, allowed, missingAsNull, ['id'])));
  const withIds = rows.some((d) => Object.hasOwn(d, 'id'));

  // The batch INSERT assigns ids itself; a client-chosen id goes through a single insert or an upsert.
  if (Array.isArray(body) && !prefs.resolution && withIds) {
    throw new PostgrestError(400, '0A000', 'client-chosen ids are supported on single-row inserts and on upserts, not in array inserts', null, 'Insert the rows one by one, or use upsert().');
  }
  if (upsert && prefs.resolution === 'ignore-duplicates') {
    if (withIds) throw new PostgrestError(400, '0A000', 'ignoreDuplicates with client-chosen ids is not supported by offbase');
    return upsert.ignoreDuplicates(ctx, rows);
  }
  if (upsert && prefs.resolution === 'merge-duplicates') return upsert.merge(ctx, rows, upsertTarget(resource, onConflict));
  try {
    if (Array.isArray(body) && resource.writes.createMany) return await resource.writes.createMany(ctx, rows);
    return await writer.createRows(ctx, resource, rows);
  } catch (err) {
    // A parent the caller cannot see: what owner-only RLS answers for the new row.
    if (resource.parent && err instanceof AppError && err.code === 'not_found') throw rlsViolation(resource.name, false);
    throw err;
  }
}

/** PATCH: the same change on every visible row the filter matches. */
export async function updateRows(input: WriteInput, body: unknown, where: SQL): Promise<Row[]> {
  const { resource, ctx, compile } = input;
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw invalidBody('PATCH takes one JSON object');
  const patch = cleanRow(input, body, null, [], []);
  const parentKey = resource.parent?.key;
  if (parentKey && Object.hasOwn(patch, parentKey)) throw new PostgrestError(403, '42501', `the ${parentKey} of a row of ${resource.name} cannot be changed`);
  if (Object.keys(patch).length === 0) return [];
  databaseCheck(compile, resource, resource.schemas.patch, patch);
  return writer.updateWhere(ctx, resource, where, patch);
}

/** DELETE: every visible row the filter matches; returns them as they were. */
export async function deleteRows(input: WriteInput, where: SQL): Promise<Row[]> {
  return writer.deleteWhere(input.ctx, input.resource, where);
}
