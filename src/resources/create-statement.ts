import { is, Param, Placeholder, SQL, sql } from 'drizzle-orm';
import type { PostgresJsSession } from 'drizzle-orm/postgres-js';
import { PgDialect, type PgColumn } from 'drizzle-orm/pg-core';
import type { DbOrTx } from '../db/client.js';
import { auditedInsert, mapReturned, scrubFailure, type InStatementAudit } from '../features/audit/in-statement.js';
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
  /** Per parameter: a column's value, an audit value, or a constant of the text. */
  params: ({ column: PgColumn; key: string } | { audit: keyof InStatementAudit } | { value: unknown })[];
}

interface Statements {
  build: NonNullable<ReturnType<typeof auditedInsert>>;
  shapes: Map<string, Rendered>;
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

function render(db: DbOrTx, resource: Resource, statements: Statements, keys: string[]): Rendered {
  const insert = insertOf(db, resource, Object.fromEntries(keys.map((k) => [k, sql.placeholder(`c:${k}`)])));
  const audit = Object.fromEntries(AUDIT_KEYS.map((k) => [k, sql.placeholder(`a:${k}`)])) as unknown as InStatementAudit;
  const query = dialect.sqlToQuery(statements.build(insert, audit));
  return {
    text: query.sql,
    params: query.params.map((p) => {
      // The INSERT's values come wrapped with their column's encoder; the audit's bare.
      const placeholder = is(p, Param) && is(p.value, Placeholder) ? p.value : is(p, Placeholder) ? p : undefined;
      if (!placeholder) return { value: p };
      const [kind, key] = [placeholder.name.slice(0, 2), placeholder.name.slice(2)];
      return kind === 'c:' ? { column: resource.allColumns[key]!, key } : { audit: key as keyof InStatementAudit };
    }),
  };
}

/**
 * Inserts `values` (column values, the owner included) and its audit row in one statement on
 * `db`; the row as drizzle's RETURNING maps it, or null when it hit a unique constraint.
 * Throws NeedsScrub when the audit row must be built in JavaScript (nothing written).
 */
export async function insertWithAudit(db: DbOrTx, resource: Resource, values: Row, audit: InStatementAudit): Promise<Row | null> {
  const statements = statementsOf(resource)!;
  const keys = Object.keys(values)
    .filter((k) => values[k] !== undefined && Object.hasOwn(resource.allColumns, k))
    .sort();
  const shape = keys.join();
  let raw: Row[];
  try {
    // A value given as SQL (a declaration's prepare may) is part of the text: rendered per call.
    const sqlValue = keys.some((k) => is(values[k], SQL));
    if (!statements.cacheable || sqlValue || (statements.shapes.size >= MAX_SHAPES && !statements.shapes.has(shape))) {
      raw = [...(await db.execute<Row>(statements.build(insertOf(db, resource, values), audit)))];
    } else {
      let rendered = statements.shapes.get(shape);
      if (!rendered) statements.shapes.set(shape, (rendered = render(db, resource, statements, keys)));
      // drizzle's encoding of each value (json as text, arrays as literals), as its INSERT does.
      const params = rendered.params.map((p) => {
        if ('value' in p) return p.value;
        if ('audit' in p) return audit[p.audit];
        const v = values[p.key];
        return v === null ? null : p.column.mapToDriverValue(v);
      });
      // The session's client is the pool (or the transaction) drizzle itself sends through: prepared, traced.
      raw = [...(await (db._.session as unknown as PostgresJsSession<never, never, never>).queryObjects<Row>(rendered.text, params))];
    }
  } catch (err) {
    throw scrubFailure(err);
  }
  return raw[0] ? mapReturned(resource.returning, raw[0]) : null;
}
