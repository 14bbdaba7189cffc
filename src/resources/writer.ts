import { eq, type SQL } from 'drizzle-orm';
import { requireActor, settleSession, writeTx, type Actor, type RequestContext } from '../context/index.js';
import type { DbOrTx, Tx } from '../db/client.js';
import { AppError } from '../errors/app-error.js';
import { clientDataError } from '../errors/database.js';
import { auditValues, NeedsScrub } from '../features/audit/in-statement.js';
import { diff, recordAuditMany, type AuditEntry } from '../features/audit/record.js';
import type { Resource, Row } from './define.js';
import { hasCreateStatement, insertWithAudit } from './create-statement.js';
import * as q from './queries.js';

// The one owner-scoped writer of every resource. Native by-id writes and /rest/v1 filtered
// writes both come here: each runs in one transaction that locks the rows it touches, writes
// them with the owner scope in every statement, and appends one audit row per row written.

const changes = (view: Row, side: 'before' | 'after') =>
  Object.fromEntries(Object.entries(view).map(([k, v]) => [k, side === 'after' ? { before: null, after: v } : { before: v, after: null }]));

export const createdChanges = (resource: Resource, row: Row) => changes(resource.auditView(row), 'after');
export const removedChanges = (resource: Resource, row: Row) => changes(resource.auditView(row), 'before');

export function auditEntry(resource: Resource, actor: Actor, verb: string, id: unknown, entryChanges: Record<string, unknown>): AuditEntry {
  return { actor_id: actor.id, action: `${resource.entity}.${verb}`, entity_type: resource.entity, entity_id: id as string, changes: entryChanges };
}

/** The owner of a new row: the actor, or the parent's owner when ownership flows from a parent, which must be visible. */
async function ownerOf(db: DbOrTx, actor: Actor, resource: Resource, values: Row, index: number, many: boolean): Promise<string> {
  if (!resource.parent) return actor.id;
  const { resource: parent, key } = resource.parent;
  const found = typeof values[key] === 'string' ? await q.visibleParent(db, actor, parent, values[key]) : undefined;
  if (!found) {
    throw new AppError('not_found', { message: `The ${parent.entity} does not exist.`, details: [{ field: key, message: `no such ${parent.entity}`, ...(many ? { index } : {}) }] });
  }
  return found.owner;
}

const conflictOf = (resource: Resource, values: Row) => resource.conflict?.(values) ?? new AppError('conflict');

/**
 * Inserts rows inside `tx` (no audit): the owner is the actor, or the parent's owner when
 * ownership flows from a parent, which must be visible (not_found naming the item otherwise).
 */
export async function insertOwned(tx: Tx, actor: Actor, resource: Resource, inputs: Row[]): Promise<Row[]> {
  await settleSession(actor);
  const rows: Row[] = [];
  for (const [index, input] of inputs.entries()) {
    const values = resource.prepare({ ...input });
    const owner = await ownerOf(tx, actor, resource, values, index, inputs.length > 1);
    const row = await q.insertRow(tx, resource, { ...values, [resource.declaration.owner]: owner });
    if (!row) throw conflictOf(resource, values);
    rows.push(row);
  }
  return rows;
}

/**
 * One row and its `<entity>.create` audit row, in one statement on `db`, which carries the
 * actor's pending session check when it can (create-statement.ts; a parent's visibility
 * check settles it first).
 */
async function insertAudited(db: DbOrTx, ctx: RequestContext, actor: Actor, resource: Resource, input: Row, index: number, many: boolean): Promise<Row> {
  const values = resource.prepare({ ...input });
  const owner = await ownerOf(db, actor, resource, values, index, many);
  const audit = auditValues(actor.id, `${resource.entity}.create`, resource.entity, ctx.audit);
  const row = await insertWithAudit(db, resource, { ...values, [resource.declaration.owner]: owner }, audit, actor.deferred);
  if (!row) throw conflictOf(resource, values);
  return row;
}

/**
 * Creates rows, all or nothing, with their audit rows (`<entity>.create`). One row is one
 * statement (atomic by itself, no transaction); several share a transaction.
 */
export async function createRows(ctx: RequestContext, resource: Resource, inputs: Row[]): Promise<Row[]> {
  const actor = requireActor(ctx);
  if (hasCreateStatement(resource)) {
    try {
      if (inputs.length === 1) return [await insertAudited(ctx.db, ctx, actor, resource, inputs[0]!, 0, false)];
      await settleSession(actor);
      return await writeTx(ctx.db, async (tx) => {
        const rows: Row[] = [];
        for (const [index, input] of inputs.entries()) rows.push(await insertAudited(tx, ctx, actor, resource, input, index, true));
        return rows;
      });
    } catch (err) {
      if (!(err instanceof NeedsScrub)) throw clientDataError(err) ?? err;
      // A json value holds a secret-looking key: nothing was written; the audit is scrubbed below.
    }
  }
  // Nothing below carries a pending session check: it settles first (a dead session writes nothing).
  await settleSession(actor);
  return writeTx(ctx.db, async (tx) => {
    const rows = await insertOwned(tx, actor, resource, inputs);
    await recordAuditMany(tx, ctx.audit, rows.map((row) => auditEntry(resource, actor, 'create', row.id, createdChanges(resource, row))));
    return rows;
  });
}

/**
 * The same change on every visible row matching `where`: locked, updated in one statement
 * (with `precondition` in its WHERE), audited per row. Returns the rows as written.
 */
async function updateLocked(tx: Tx, ctx: RequestContext, actor: Actor, resource: Resource, where: SQL, values: Row, precondition?: SQL) {
  const before = new Map((await q.rowsWhere(tx, actor, resource, where, true)).map((r) => [r.id as string, r]));
  const rows = await q.updateRows(tx, actor, resource, [...before.keys()], values, precondition);
  await recordAuditMany(
    tx,
    ctx.audit,
    rows.map((row) => auditEntry(resource, actor, 'update', row.id, diff(resource.auditView(before.get(row.id as string)!), resource.auditView(row)))),
  );
  return { found: before.size, rows };
}

export async function updateWhere(ctx: RequestContext, resource: Resource, where: SQL, patch: Row): Promise<Row[]> {
  const actor = requireActor(ctx);
  const values = resource.prepare({ ...patch });
  return writeTx(ctx.db, async (tx) => (await updateLocked(tx, ctx, actor, resource, where, values)).rows);
}

/** One row by id: not_found when the caller cannot see it, precondition_failed when `precondition` (an If-Match) does not hold. */
export async function updateById(ctx: RequestContext, resource: Resource, id: string, patch: Row, precondition?: SQL): Promise<Row> {
  const actor = requireActor(ctx);
  const values = resource.prepare({ ...patch });
  return writeTx(ctx.db, async (tx) => {
    const { found, rows } = await updateLocked(tx, ctx, actor, resource, eq(resource.idColumn, id), values, precondition);
    if (!found) throw new AppError('not_found');
    if (!rows[0]) throw new AppError('precondition_failed');
    return rows[0];
  });
}

async function deleteLocked(tx: Tx, ctx: RequestContext, actor: Actor, resource: Resource, where: SQL, precondition?: SQL) {
  const before = await q.rowsWhere(tx, actor, resource, where, true);
  const deleted = new Set(await q.deleteRows(tx, actor, resource, before.map((r) => r.id as string), precondition));
  const rows = before.filter((r) => deleted.has(r.id as string));
  await recordAuditMany(tx, ctx.audit, rows.map((row) => auditEntry(resource, actor, 'delete', row.id, removedChanges(resource, row))));
  return { found: before.length, rows };
}

/** Every visible row matching `where`, deleted and audited; returns them as they were. */
export async function deleteWhere(ctx: RequestContext, resource: Resource, where: SQL): Promise<Row[]> {
  const actor = requireActor(ctx);
  return writeTx(ctx.db, async (tx) => (await deleteLocked(tx, ctx, actor, resource, where)).rows);
}

export async function deleteById(ctx: RequestContext, resource: Resource, id: string, precondition?: SQL): Promise<Row> {
  const actor = requireActor(ctx);
  return writeTx(ctx.db, async (tx) => {
    const { found, rows } = await deleteLocked(tx, ctx, actor, resource, eq(resource.idColumn, id), precondition);
    if (!found) throw new AppError('not_found');
    if (!rows[0]) throw new AppError('precondition_failed');
    return rows[0];
  });
}
