import { and, count, eq, inArray, sql, type SQL } from 'drizzle-orm';
import type { PgColumn } from 'drizzle-orm/pg-core';
import { CARRIED_SESSION as CARRIED, settleSession, type Actor, type DeferredSessionCheck } from '../context/index.js';
import type { DbOrTx } from '../db/client.js';
import { namedSelection, statementCache, statementRows } from '../db/prepared.js';
import { boundValues, isBound, isLiteralLimit, literalLimit, ownerScope, ownRows, type Bound, type RowsQuery } from '../query/index.js';
import type { Relation, Resource, Row } from './define.js';

// Every statement on a resource, owner-scoped: nothing here reads or writes a row the actor
// may not see (query/scope.ts decides which those are). While the request's session check is
// pending (context/session.ts), the reads below carry it as one more column, and every other
// statement settles it first.

/** The visibility condition of the resource's rows for the actor (undefined: every row, admin powers). */
export const scopeOf = (resource: Resource, actor: Actor): SQL | undefined => ownerScope(actor, resource.ownerColumn);

// Drizzle's builders are typed per table; the resource layer works on any declared table.
/* eslint-disable @typescript-eslint/no-explicit-any */
type Selection = { [key: string]: PgColumn | SQL | SQL.Aliased | Selection };
type Flat = Record<string, PgColumn | SQL | SQL.Aliased>;
const from = (db: DbOrTx, columns: Selection, resource: Resource) => db.select(columns as any).from(resource.table as any);

/** A carrying read's selection: the row's columns, and the session check's value as one more (last). */
export const carried = (columns: Flat, check: DeferredSessionCheck): Flat => ({ ...columns, [CARRIED]: check.column.as(CARRIED) });
/** The check's column under its name, for a statement written as SQL: it must be the rows' last column. */
export const carriedColumn = (check: DeferredSessionCheck): SQL => sql`${check.column} as ${sql.identifier(CARRIED)}`;

/**
 * A read that carries the actor's pending session check when it can: `run(check)` builds the
 * statement with the check's column (or without it, check undefined). The check settles from the
 * first row; a read that found no row settles it on its own (one more round trip, as every read
 * took before). If the session turns out to have other powers than the provisional actor had
 * (an admin whose token did not say so), the read runs again in the right scope.
 */
export async function carryingRead(db: DbOrTx, actor: Actor, run: (check?: DeferredSessionCheck) => Promise<Row[]>): Promise<Row[]> {
  const check = actor.deferred;
  if (!check || check.settled) return run();
  if (check.db !== db) {
    await check.run();
    return run();
  }
  const scope = actor.admin;
  const rows = await run(check);
  if (rows.length) check.settle(rows[0]![CARRIED] as string | null);
  else await check.run();
  if (actor.admin !== scope) return run();
  // The check's value is the rows' last property: deleting it leaves them as they would be without it.
  for (const row of rows) delete row[CARRIED];
  return rows;
}

/**
 * Rows of the resource the actor may see. With `rows.shape` and a `where` that is bound (or
 * none), the statement is rendered once per shape and reused with new values (shapedRows);
 * a `where` given as SQL renders the statement on every call.
 */
export async function selectRows(db: DbOrTx, actor: Actor, resource: Resource, rows: RowsQuery): Promise<Row[]> {
  const { where } = rows;
  if (rows.shape !== undefined && (where === undefined || isBound(where))) return shapedRows(db, actor, resource, rows, where);
  // A bound condition is only SQL through a statement of its shape: a caller must name it.
  if (isBound(where)) throw new Error(`selectRows on ${resource.name}: a bound where needs a shape (the name of its order)`);
  return carryingRead(db, actor, (check) => {
    let query = from(db, check ? carried(rows.columns, check) : rows.columns, resource)
      .where(and(scopeOf(resource, actor), where))
      .$dynamic();
    if (rows.order?.length) query = query.orderBy(...rows.order);
    if (rows.limit !== undefined) query = query.limit(literalLimit(rows.limit));
    if (rows.offset) query = query.offset(rows.offset);
    return (check ? query.prepare('offbase_rows').execute(check.params) : query) as Promise<Row[]>;
  });
}

// A read rendered once per resource, handle and shape (src/db/prepared.ts): the scope, the
// carried check, the columns, the page size (a literal for the round sizes, query/page.ts),
// whether it has an offset, the order (`rows.shape`: the caller's promise that the same name
// means the same ORDER BY) and the bound condition's key. Its values are placeholders: the
// owner, the limit and offset, the condition's p0, p1, ... Up to 256 shapes per handle are
// kept, the least recently used dropped first: clients composing their own queries
// (/rest/v1) cannot grow it without bound.
type ShapedInput = { rows: RowsQuery; where: Bound | undefined; check: DeferredSessionCheck | undefined };
const shapedStatements = new WeakMap<Resource, ReturnType<typeof shapedStatement>>();
const shapedStatement = (resource: Resource) =>
  statementCache((db, shape, { rows, where, check }: ShapedInput) => {
    const selection = namedSelection(check ? carried(rows.columns, check) : rows.columns);
    let query = from(db, selection, resource)
      .where(and(ownRows(shape.startsWith('any '), resource.ownerColumn, sql.placeholder('owner')), where?.sql(0)))
      .$dynamic();
    if (rows.order?.length) query = query.orderBy(...rows.order);
    if (rows.limit !== undefined) query = query.limit(isLiteralLimit(rows.limit) ? literalLimit(rows.limit) : sql.placeholder('limit'));
    if (rows.offset) query = query.offset(sql.placeholder('offset'));
    return statementRows(db, query, selection, `offbase_${resource.name}_rows`);
  }, 256);

// Names a column set passed as the same object on every call (a resource's or a feature's
// column map); a set built per call names itself (RowsQuery.columnsKey).
const columnSetIds = new WeakMap<object, string>();
let columnSets = 0;
function columnsKeyOf(rows: RowsQuery): string {
  if (rows.columnsKey !== undefined) return `=${rows.columnsKey}`;
  let id = columnSetIds.get(rows.columns);
  if (id === undefined) columnSetIds.set(rows.columns, (id = `#${++columnSets}`));
  return id;
}

async function shapedRows(db: DbOrTx, actor: Actor, resource: Resource, rows: RowsQuery, where: Bound | undefined): Promise<Row[]> {
  let statements = shapedStatements.get(resource);
  if (!statements) shapedStatements.set(resource, (statements = shapedStatement(resource)));
  const found = statements;
  const { limit, offset } = rows;
  const literal = limit === undefined || isLiteralLimit(limit);
  const text = `${limit === undefined ? '-' : literal ? limit : '$'} ${offset ? 'offset' : '-'} ${columnsKeyOf(rows)} ${rows.shape} | ${where?.key ?? ''}`;
  return carryingRead(db, actor, (check) => {
    const values: Record<string, unknown> = { owner: actor.id, ...check?.params };
    if (!literal) values.limit = limit;
    if (offset) values.offset = offset;
    boundValues(where, values);
    return found(db, `${actor.admin ? 'any' : 'own'} ${check ? 'carry' : 'plain'} ${text}`, { rows, where, check })(values);
  });
}

export async function countRows(db: DbOrTx, actor: Actor, resource: Resource, where?: SQL): Promise<number> {
  await settleSession(actor);
  return db.$count(resource.table, and(scopeOf(resource, actor), where));
}

/** The full rows (as writes return them) matching `where`, locked until the transaction ends when `lock`. */
export async function rowsWhere(db: DbOrTx, actor: Actor, resource: Resource, where: SQL, lock = false): Promise<Row[]> {
  await settleSession(actor);
  const query = from(db, resource.returning, resource).where(and(scopeOf(resource, actor), where)).orderBy(resource.idColumn);
  return (lock ? query.for('update') : query) as Promise<Row[]>;
}

// The hot read (a row by id, unlocked) rendered once per resource, handle, scope and carried
// check (src/db/prepared.ts): the SQL rowsWhere renders, with placeholders for the values.
const byIdStatements = new WeakMap<Resource, ReturnType<typeof byIdStatement>>();
const byIdStatement = (resource: Resource) =>
  statementCache((db, shape, check: DeferredSessionCheck | undefined) => {
    const id = eq(resource.idColumn, sql.placeholder('id'));
    const selection = namedSelection(check ? carried(resource.returning, check) : resource.returning);
    const query = from(db, selection, resource)
      .where(and(id, ownRows(shape.startsWith('any '), resource.ownerColumn, sql.placeholder('owner'))))
      .limit(1);
    return statementRows(db, query, selection, `offbase_${resource.name}_by_id`);
  });

export async function rowById(db: DbOrTx, actor: Actor, resource: Resource, id: string, lock = false): Promise<Row | undefined> {
  if (lock) {
    const [row] = await rowsWhere(db, actor, resource, eq(resource.idColumn, id), lock);
    return row;
  }
  let statements = byIdStatements.get(resource);
  if (!statements) byIdStatements.set(resource, (statements = byIdStatement(resource)));
  const found = statements;
  const [row] = await carryingRead(db, actor, (check) => {
    const shape = `${actor.admin ? 'any' : 'own'} ${check ? 'carry' : 'plain'}`;
    return found(db, shape, check)({ id, owner: actor.id, ...check?.params });
  });
  return row;
}

/** null when the row collides with a unique constraint. */
export async function insertRow(db: DbOrTx, resource: Resource, values: Row): Promise<Row | null> {
  const [row] = (await db
    .insert(resource.table as any)
    .values(values as any)
    .onConflictDoNothing()
    .returning(resource.returning as any)) as Row[];
  return row ?? null;
}

/** The update of the given rows, re-scoped; `extra` (a precondition) is part of the same WHERE. */
export async function updateRows(db: DbOrTx, actor: Actor, resource: Resource, ids: string[], values: Row, extra?: SQL): Promise<Row[]> {
  if (!ids.length) return [];
  return (await db
    .update(resource.table as any)
    .set(values as any)
    .where(and(inArray(resource.idColumn, ids), scopeOf(resource, actor), extra))
    .returning(resource.returning as any)) as Row[];
}

export async function deleteRows(db: DbOrTx, actor: Actor, resource: Resource, ids: string[], extra?: SQL): Promise<string[]> {
  if (!ids.length) return [];
  const rows = (await db
    .delete(resource.table as any)
    .where(and(inArray(resource.idColumn, ids), scopeOf(resource, actor), extra))
    .returning({ id: resource.idColumn } as any)) as { id: string }[];
  return rows.map((r) => r.id);
}
/* eslint-enable @typescript-eslint/no-explicit-any */

/** The parent row (its id and owner) if the actor may see it: a child attaches only to a visible parent. */
export async function visibleParent(db: DbOrTx, actor: Actor, parent: Resource, id: string): Promise<{ id: string; owner: string } | undefined> {
  await settleSession(actor);
  const [row] = (await from(db, { id: parent.idColumn, owner: parent.ownerColumn }, parent)
    .where(and(eq(parent.idColumn, id), scopeOf(parent, actor)))
    .limit(1)) as { id: string; owner: string }[];
  return row;
}

/**
 * For a query on `root`: "it has a visible `target` row related by `relation` matching
 * `where`" (PostgREST's `<target>!inner(...)`).
 */
export function relatedExists(actor: Actor, root: Resource, relation: Relation, target: Resource, where?: SQL): SQL {
  const join = eq(target.allColumns[relation.targetKey]!, root.allColumns[relation.localKey]!);
  return sql`exists (select 1 from ${target.table} where ${and(join, scopeOf(target, actor), where)})`;
}

/** Visible `target` rows per value of `key`, for `select=*,<target>(count)`. */
export async function countBy(db: DbOrTx, actor: Actor, target: Resource, key: string, values: string[], where?: SQL): Promise<Map<string, number>> {
  if (!values.length) return new Map();
  await settleSession(actor);
  const column = target.allColumns[key]!;
  const rows = (await db
    .select({ key: column, n: count() })
    .from(target.table)
    .where(and(inArray(column, values), scopeOf(target, actor), where))
    .groupBy(column)) as { key: string; n: number }[];
  return new Map(rows.map((r) => [r.key, r.n]));
}
