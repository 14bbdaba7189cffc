import { is, Param, Placeholder, SQL, sql } from 'drizzle-orm';
import type { PostgresJsSession } from 'drizzle-orm/postgres-js';
import { PgDialect, type PgColumn } from 'drizzle-orm/pg-core';
import type { DeferredSessionCheck } from '../context/index.js';
import type { DbOrTx } from '../db/client.js';
import { auditedInsert, CARRIED_STATE, mapReturned, scrubFailure, type InStatementAudit } from '../features/audit/in-statement.js';
import type { Resource, Row } from './define.js';

// A resource's create with its audit row in one statement (features/audit/in-statement.ts),
// rendered to SQL text once per resource and set of columns given: drizzle renders a
// statement of this size in a large fraction of a millisecond, more than PostgreSQL spends
// running it. Only the values change per call; the text is a prepared statement on the pool.

const dialect = new PgDialect();
const AUDIT_KEYS = ['actorId', 'action', 'entityType', 'requestId', 'ip', 'userAgent'] as const;
// Each set of given columns is its own text; past this many per resource, render per call
// (a client choosing ever new subsets of a wide table must not grow the cache without bound).
const MAX_SHAPES = 64;

interface Rendered {
  text: string;
  /** Per parameter: a column's value, an audit value, a session check's value, or a constant of the text. */
  params: ({ column: PgColumn; key: string } | { audit: keyof InStatementAudit } | { check: string } | { value: unknown })[];
}

interface Statements {
  build: NonNullable<ReturnType<typeof auditedInsert>>;
  /** null: the shape cannot carry the session check (a column type without a plain cast). */
  shapes: Map<string, Rendered | null>;
  /** Values drizzle would compute per insert ($defaultFn, $onUpdateFn) cannot be rendered once. */
  cacheable: boolean;
}
const byResource = new WeakMap<Resource, Statements | null>();

function statementsOf(resource: Resource): Statements | null {
  let statements = byResource.get(resource);
  if (statements === undefined) {
    const build = resource.auditSpec && auditedInsert(resource.returning, resource.auditSpec);
    const computed = Object.values(resource.allColumns).some((c) => c.defaultFn || c.onUpdateFn);
    statements = build ? { build, shapes: new Map(), cacheable: !computed } : null;
    byResource.set(resource, statements);
  }
  return statements;
}

/** Can this resource's creates write their audit row in the INSERT? */
export const hasCreateStatement = (resource: Resource): boolean => statementsOf(resource) !== null;

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- drizzle's builders are typed per table
const insertOf = (db: DbOrTx, resource: Resource, values: Row) => db.insert(resource.table as any).values(values as any).onConflictDoNothing().getSQL();

// A carrying create's INSERT selects its values instead of listing them (`insert ... select`),
// and a selected parameter has no column to take its type from: each is cast to its column's
// type. Only types whose cast is what the INSERT's own assignment would do: no length or
// precision (an explicit cast to varchar(n) truncates where assignment refuses), no enums or
// custom types (a resource with one settles the check first and inserts as before).
const CAST: Record<string, string> = {
  PgUUID: 'uuid',
  PgText: 'text',
  PgVarchar: 'varchar',
  PgSmallInt: 'int2',
  PgInteger: 'int4',
  PgBigInt53: 'int8',
  PgBigInt64: 'int8',
  PgBoolean: 'bool',
  PgReal: 'float4',
  PgDoublePrecision: 'float8',
  PgNumeric: 'numeric',
  PgJsonb: 'jsonb',
  PgJson: 'json',
};
function castOf(column: PgColumn): string | undefined {
  if (column.columnType === 'PgArray') {
    const base = (column as unknown as { baseColumn: PgColumn }).baseColumn;
    const cast = base.columnType === 'PgArray' ? undefined : castOf(base);
    return cast && `${cast}[]`;
  }
  if (column.columnType === 'PgTimestamp' || column.columnType === 'PgTimestampString') {
    return (column as unknown as { withTimezone: boolean }).withTimezone ? 'timestamptz' : 'timestamp';
  }
  return CAST[column.columnType];
}

/** The carrying INSERT: the row selected from the check's state, under its write gate (or undefined: some column has no plain cast). */
function carryingInsert(resource: Resource, keys: string[], check: DeferredSessionCheck): SQL | undefined {
  const values: SQL[] = [];
  for (const key of keys) {
    const column = resource.allColumns[key]!;
    const cast = castOf(column);
    if (!cast) return undefined;
    values.push(sql`${sql.placeholder(`c:${key}`)}::${sql.raw(cast)}`);
  }
  const columns = sql.join(keys.map((k) => sql.identifier(resource.allColumns[k]!.name)), sql`, `);
  return sql`insert into ${resource.table} (${columns}) select ${sql.join(values, sql`, `)} from ${sql.identifier(CARRIED_STATE)} s where ${check.writeGate(sql`s.state`)} on conflict do nothing`;
}

function render(db: DbOrTx, resource: Resource, statements: Statements, keys: string[], check?: DeferredSessionCheck): Rendered | null {
  const audit = Object.fromEntries(AUDIT_KEYS.map((k) => [k, sql.placeholder(`a:${k}`)])) as unknown as InStatementAudit;
  let statement: SQL;
  if (check) {
    const insert = carryingInsert(resource, keys, check);
    if (!insert) return null;
    statement = statements.build(insert, audit, check.column);
  } else {
    statement = statements.build(insertOf(db, resource, Object.fromEntries(keys.map((k) => [k, sql.placeholder(`c:${k}`)]))), audit);
  }
  const query = dialect.sqlToQuery(statement);
  return {
    text: query.sql,
    params: query.params.map((p) => {
      // The INSERT's values come wrapped with their column's encoder (bare when carrying); the audit's and the check's bare.
      const placeholder = is(p, Param) && is(p.value, Placeholder) ? p.value : is(p, Placeholder) ? p : undefined;
      if (!placeholder) return { value: p };
      const [kind, key] = [placeholder.name.slice(0, 2), placeholder.name.slice(2)];
      if (kind === 'c:') return { column: resource.allColumns[key]!, key };
      if (kind === 'a:') return { audit: key as keyof InStatementAudit };
      if (!check || !Object.hasOwn(check.params, placeholder.name)) throw new Error(`create statement: unknown placeholder ${placeholder.name}`);
      return { check: placeholder.name };
    }),
  };
}

/**
 * Inserts `values` (column values, the owner included) and its audit row in one statement on
 * `db`; the row as drizzle's RETURNING maps it, or null when it hit a unique constraint.
 * Throws NeedsScrub when the audit row must be built in JavaScript (nothing written).
 *
 * With `check` (the request's pending session check) the statement carries it when it can:
 * it inserts only if the session may write (DeferredSessionCheck.writeGate) and settles the
 * check from the state it read, so a dead session's create writes nothing and answers the
 * check's 401 (or the MFA gate's refusal). When it cannot carry it (a value given as SQL, a
 * column type without a plain cast, another handle than the check's), the check runs first.
 */
export async function insertWithAudit(db: DbOrTx, resource: Resource, values: Row, audit: InStatementAudit, check?: DeferredSessionCheck): Promise<Row | null> {
  const statements = statementsOf(resource)!;
  const keys = Object.keys(values)
    .filter((k) => values[k] !== undefined && Object.hasOwn(resource.allColumns, k))
    .sort();
  // A value given as SQL (a declaration's prepare may) is part of the text: rendered per call.
  const cacheable = statements.cacheable && !keys.some((k) => is(values[k], SQL));
  // The rendered text of a shape, or null: rendered per call (past MAX_SHAPES), or cannot carry.
  const renderedFor = (shape: string, carry?: DeferredSessionCheck): Rendered | null => {
    if (!cacheable) return null;
    let rendered = statements.shapes.get(shape);
    if (rendered === undefined && statements.shapes.size < MAX_SHAPES) statements.shapes.set(shape, (rendered = render(db, resource, statements, keys, carry)));
    return rendered ?? null;
  };
  const pending = check && !check.settled && check.db === db ? check : undefined;
  const carried = pending ? renderedFor(`carry ${keys.join()}`, pending) : null;
  // Whatever cannot carry the check waits for it.
  if (check && !check.settled && !carried) await check.run();
  const rendered = carried ?? renderedFor(keys.join());
  let raw: Row[];
  try {
    if (!rendered) {
      raw = [...(await db.execute<Row>(statements.build(insertOf(db, resource, values), audit)))];
    } else {
      // drizzle's encoding of each value (json as text, arrays as literals), as its INSERT does.
      const params = rendered.params.map((p) => {
        if ('value' in p) return p.value;
        if ('audit' in p) return audit[p.audit];
        if ('check' in p) return pending!.params[p.check];
        const v = values[p.key];
        return v === null ? null : p.column.mapToDriverValue(v);
      });
      // The session's client is the pool (or the transaction) drizzle itself sends through: prepared, traced.
      raw = [...(await (db._.session as unknown as PostgresJsSession<never, never, never>).queryObjects<Row>(rendered.text, params))];
    }
  } catch (err) {
    throw scrubFailure(err);
  }
  const first = raw[0];
  if (carried) {
    // One row always: the check's state, and the inserted row's columns (NULL when nothing was inserted).
    pending!.settle((first?.[CARRIED_STATE] as string | null | undefined) ?? null);
    return first && first.id != null ? mapReturned(resource.returning, first) : null;
  }
  return first ? mapReturned(resource.returning, first) : null;
}
