import { and, count, eq, inArray, sql, type SQL } from 'drizzle-orm';
import type { PgColumn } from 'drizzle-orm/pg-core';
import type { Actor } from '../context/index.js';
import type { DbOrTx } from '../db/client.js';
import { statementCache } from '../db/prepared.js';
import { ownerScope, type RowsQuery } from '../query/index.js';
import type { Relation, Resource, Row } from './define.js';

// Every statement on a resource, owner-scoped: nothing here reads or writes a row the actor
// may not see (query/scope.ts decides which those are).

/** The visibility condition of the resource's rows for the actor (undefined: every row, admin powers). */
export const scopeOf = (resource: Resource, actor: Actor): SQL | undefined => ownerScope(actor, resource.ownerColumn);

// Drizzle's builders are typed per table; the resource layer works on any declared table.
/* eslint-disable @typescript-eslint/no-explicit-any */
const from = (db: DbOrTx, columns: Record<string, PgColumn | SQL>, resource: Resource) => db.select(columns as any).from(resource.table as any);

export async function selectRows(db: DbOrTx, actor: Actor, resource: Resource, rows: RowsQuery): Promise<Row[]> {
  let query = from(db, rows.columns, resource).where(and(scopeOf(resource, actor), rows.where)).$dynamic();
  if (rows.order?.length) query = query.orderBy(...rows.order);
  if (rows.limit !== undefined) query = query.limit(rows.limit);
  if (rows.offset) query = query.offset(rows.offset);
  return query as Promise<Row[]>;
}

export async function countRows(db: DbOrTx, actor: Actor, resource: Resource, where?: SQL): Promise<number> {
  return db.$count(resource.table, and(scopeOf(resource, actor), where));
}

/** The full rows (as writes return them) matching `where`, locked until the transaction ends when `lock`. */
export async function rowsWhere(db: DbOrTx, actor: Actor, resource: Resource, where: SQL, lock = false): Promise<Row[]> {
  const query = from(db, resource.returning, resource).where(and(scopeOf(resource, actor), where)).orderBy(resource.idColumn);
  return (lock ? query.for('update') : query) as Promise<Row[]>;
}

// The hot read (a row by id, unlocked) rendered once per resource, handle and scope
// (src/db/prepared.ts): the SQL rowsWhere renders, with placeholders for the values.
const byIdStatements = new WeakMap<Resource, ReturnType<typeof byIdStatement>>();
const byIdStatement = (resource: Resource) =>
  statementCache((db, scope) => {
    const id = eq(resource.idColumn, sql.placeholder('id'));
    return from(db, resource.returning, resource)
      .where(scope === 'own' ? and(id, eq(resource.ownerColumn, sql.placeholder('owner'))) : id)
      .limit(1)
      .prepare(`offbase_${resource.name}_by_id_${scope}`);
  });

export async function rowById(db: DbOrTx, actor: Actor, resource: Resource, id: string, lock = false): Promise<Row | undefined> {
  if (!lock) {
    let statements = byIdStatements.get(resource);
    if (!statements) byIdStatements.set(resource, (statements = byIdStatement(resource)));
    const [row] = (await statements(db, actor.admin ? 'any' : 'own').execute({ id, owner: actor.id })) as Row[];
    return row;
  }
  const [row] = await rowsWhere(db, actor, resource, eq(resource.idColumn, id), lock);
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
  const column = target.allColumns[key]!;
  const rows = (await db
    .select({ key: column, n: count() })
    .from(target.table)
    .where(and(inArray(column, values), scopeOf(target, actor), where))
    .groupBy(column)) as { key: string; n: number }[];
  return new Map(rows.map((r) => [r.key, r.n]));
}
