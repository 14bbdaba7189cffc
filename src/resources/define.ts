import type { TSchema } from '@sinclair/typebox';
import { getTableColumns, type SQL } from 'drizzle-orm';
import type { PgColumn, PgTable } from 'drizzle-orm/pg-core';
import type { RequestContext } from '../context/index.js';
import type { AppError } from '../errors/app-error.js';
import { auditViewOf, DEFAULT_AUDIT_VIEW, type AuditViewSpec } from '../features/audit/in-statement.js';
import type { ColumnSpec, ColumnType, TableSpec } from '../query/index.js';
import { deriveSchemas, type ResourceSchemas } from './schemas.js';

// A resource is one owned table declared once: the Drizzle table, whose rows they are, which
// columns may be read, written, filtered and sorted, and how it relates to other resources.
// Everything else (owner-scoped statements, the audited writer, TypeBox schemas, the native
// /api/v1 routes and /rest/v1) is derived from the declaration (see docs/adding-a-table.md).

export type Row = Record<string, unknown>;

export interface Relation {
  /** The related resource's name. */
  target: string;
  /** many: the target's rows point at this row (documents → analyses); one: this row points at the target. */
  cardinality: 'many' | 'one';
  /** This table's column holding the join value, and the target's. */
  localKey: string;
  targetKey: string;
}

/** Ownership that flows from a parent row (analyses → documents): the parent must be visible, and its owner owns the child. */
export interface ParentOwnership {
  resource: Resource;
  /** This table's column referencing the parent's key. */
  key: string;
}

/** A rule the database enforces with a CHECK constraint, checked first so the client gets a clear 400. */
export interface RowCheck {
  constraint: string;
  /** A message when the row breaks the rule, else null. */
  test(row: Row): string | null;
}

/** Write paths a feature implements itself (set-based batch insert, upserts); the rest come from the resource writer. */
export interface WriteExtras {
  /** An array insert. Default: the resource writer, row by row in one transaction. */
  createMany?(ctx: RequestContext, rows: Row[]): Promise<Row[]>;
  /** Upserts (/rest/v1 `Prefer: resolution=...`); absent: the resource has no upsert. */
  upsert?: {
    /** Unique column sets an upsert may name in on_conflict, besides the primary key `id`. */
    targets: string[][];
    merge(ctx: RequestContext, rows: Row[], target: string[]): Promise<Row[]>;
    ignoreDuplicates(ctx: RequestContext, rows: Row[]): Promise<Row[]>;
  };
}

export interface ResourceDeclaration<T extends PgTable = PgTable> {
  /** URL segment (/api/v1/<name>, /rest/v1/<name>) and the name in error messages. */
  name: string;
  /** The audit trail's entity_type (`<entity>.create`, ...): singular, e.g. document. */
  entity: string;
  table: T;
  /** The column holding the owning user's id. Every statement is scoped by it. */
  owner: string;
  /** Set when ownership flows from a parent row (the child's owner is the parent's). */
  parent?: ParentOwnership;
  /** Columns clients never see (default: none). Every other column of the table is readable. */
  hidden?: string[];
  /** Columns a create or a patch may set. The others are kept by the database or by offbase. */
  writable: string[];
  /** Columns the native list filters by (`?col=value`) and /api/v1 filters accept. */
  filterable: string[];
  /** Columns the native list sorts by: only those with an index behind them. */
  sortable: string[];
  /** Columns /rest/v1 may filter on besides the readable ones (a generated tsvector for full-text operators). */
  restFilterOnly?: string[];
  relations?: Record<string, Relation>;
  /** May a client choose the id of a new row (PostgREST inserts with an id)? Default false. */
  clientIds?: boolean;
  /** Extra columns every write returns (computed values such as an ETag). */
  computed?: Record<string, SQL>;
  /** Schemas that refine or replace the derived ones (stricter bounds, enums). */
  schemas?: Partial<ResourceSchemas>;
  /** Turns validated input into column values (exact decimals, byte limits); may throw an AppError. */
  prepare?(values: Row): Row;
  checks?: RowCheck[];
  /** The error for a row that collides with a unique constraint (default: conflict). */
  conflict?(row: Row): AppError;
  /**
   * What the audit trail keeps of a row (default: every column except id and the timestamps).
   * Declared as a spec, a create's audit row is built by PostgreSQL in the INSERT itself.
   */
  audit?: AuditViewSpec;
  /** The same as a function, for views a spec cannot say; creates then write the audit row in a second statement. */
  auditView?(row: Row): Row;
  writes?: WriteExtras;
  /** Generate the native /api/v1/<name> routes (default true). False when the feature serves its own. */
  nativeRoutes?: boolean;
}

export interface Resource extends Required<Pick<ResourceDeclaration, 'name' | 'entity' | 'writable' | 'clientIds' | 'checks'>> {
  declaration: ResourceDeclaration;
  table: PgTable;
  /** Every column of the table by name. */
  allColumns: Record<string, PgColumn>;
  /** Readable columns, in table order: `*`. */
  columns: Record<string, PgColumn>;
  /** What writes return: the readable columns plus the computed ones. */
  returning: Record<string, PgColumn | SQL>;
  ownerColumn: PgColumn;
  idColumn: PgColumn;
  parent?: ParentOwnership;
  /** Native filter and sort allowlist (the query module compiles it). */
  spec: TableSpec;
  /** /rest/v1's allowlist: every readable column filterable, every scalar one sortable. */
  restSpec: TableSpec;
  relations: Record<string, Relation>;
  /** Columns that exist but a body may not set (silently ignored by /rest/v1 writes). */
  readOnly: string[];
  schemas: ResourceSchemas;
  prepare(values: Row): Row;
  auditView(row: Row): Row;
  /** The audit view as a spec, unless the declaration gave a function. */
  auditSpec?: AuditViewSpec;
  conflict?(row: Row): AppError;
  writes: WriteExtras;
  nativeRoutes: boolean;
}

/** The query module's type of a Drizzle column, from its SQL type. */
export function columnType(column: PgColumn): ColumnType {
  const sqlType = column.getSQLType();
  if (sqlType.startsWith('numeric')) return 'numeric';
  if (sqlType.startsWith('timestamp')) return 'timestamptz';
  if (sqlType.startsWith('varchar') || sqlType.startsWith('character varying')) return 'text';
  const known: Record<string, ColumnType> = {
    uuid: 'uuid',
    text: 'text',
    integer: 'integer',
    bigint: 'bigint',
    boolean: 'boolean',
    'text[]': 'text[]',
    jsonb: 'jsonb',
    tsvector: 'tsvector',
  };
  const type = known[sqlType];
  if (!type) throw new Error(`resources: column ${column.name} has SQL type ${sqlType}, which the query layer does not know`);
  return type;
}

const SCALAR: ColumnType[] = ['uuid', 'text', 'integer', 'bigint', 'numeric', 'timestamptz', 'boolean'];

function columnSpec(column: PgColumn, flags: Partial<ColumnSpec> = {}): ColumnSpec {
  return { column, type: columnType(column), ...(column.notNull ? {} : { nullable: true }), ...flags };
}

/** Checks a declaration against its table and derives everything the layer needs. */
export function defineResource<T extends PgTable>(declaration: ResourceDeclaration<T>): Resource {
  const { name } = declaration;
  const allColumns = getTableColumns(declaration.table) as Record<string, PgColumn>;
  const must = (column: string, role: string) => {
    if (!Object.hasOwn(allColumns, column)) throw new Error(`resource ${name}: ${role} column ${column} is not a column of the table`);
    return allColumns[column]!;
  };
  const idColumn = must('id', 'key');
  const ownerColumn = must(declaration.owner, 'owner');
  if (declaration.parent) must(declaration.parent.key, 'parent key');
  const hidden = new Set(declaration.hidden ?? []);
  for (const c of hidden) must(c, 'hidden');
  for (const c of declaration.writable) must(c, 'writable');
  if (declaration.writable.includes(declaration.owner)) throw new Error(`resource ${name}: the owner column is set by offbase, never by a body`);
  const columns = Object.fromEntries(Object.entries(allColumns).filter(([c]) => !hidden.has(c)));

  const specColumns: Record<string, ColumnSpec> = { id: columnSpec(idColumn) };
  for (const c of declaration.filterable) specColumns[c] = columnSpec(must(c, 'filterable'));
  for (const c of declaration.sortable) specColumns[c] = columnSpec(must(c, 'sortable'), { sortable: true });
  const spec: TableSpec = { name, key: 'id', columns: specColumns };

  const restColumns: Record<string, ColumnSpec> = {};
  for (const c of [...Object.keys(columns), ...(declaration.restFilterOnly ?? [])]) {
    const column = must(c, 'rest filter');
    const type = columnType(column);
    restColumns[c] = columnSpec(column, { filterable: true, sortable: SCALAR.includes(type) });
  }

  const auditSpec = declaration.auditView ? undefined : (declaration.audit ?? DEFAULT_AUDIT_VIEW);
  const managed = new Set(['id', declaration.owner, ...(declaration.parent ? [declaration.parent.key] : [])]);
  return {
    declaration: declaration as unknown as ResourceDeclaration,
    name,
    entity: declaration.entity,
    table: declaration.table,
    allColumns,
    columns,
    returning: { ...columns, ...declaration.computed },
    ownerColumn,
    idColumn,
    ...(declaration.parent ? { parent: declaration.parent } : {}),
    writable: declaration.writable,
    clientIds: declaration.clientIds ?? false,
    checks: declaration.checks ?? [],
    spec,
    restSpec: { name, key: 'id', columns: restColumns },
    relations: declaration.relations ?? {},
    readOnly: [...Object.keys(allColumns)].filter((c) => !managed.has(c) && !declaration.writable.includes(c)),
    schemas: deriveSchemas(declaration.table, columns, declaration.writable, declaration.schemas),
    prepare: declaration.prepare ?? ((values) => values),
    auditView: declaration.auditView ?? auditViewOf(auditSpec!),
    ...(auditSpec ? { auditSpec } : {}),
    ...(declaration.conflict ? { conflict: declaration.conflict } : {}),
    writes: declaration.writes ?? {},
    nativeRoutes: declaration.nativeRoutes ?? true,
  };
}

/** The resources an app serves, by name. */
export class ResourceRegistry {
  readonly #byName = new Map<string, Resource>();

  constructor(resources: Resource[]) {
    for (const r of resources) {
      if (this.#byName.has(r.name)) throw new Error(`resource ${r.name} is declared twice`);
      this.#byName.set(r.name, r);
    }
    for (const r of resources) {
      for (const [key, rel] of Object.entries(r.relations)) {
        if (!this.#byName.has(rel.target)) throw new Error(`resource ${r.name}: relation ${key} names ${rel.target}, which is not registered`);
      }
    }
  }

  get(name: string): Resource | undefined {
    return this.#byName.get(name);
  }

  /** A relation's target (checked to exist at construction). */
  target(rel: Relation): Resource {
    return this.#byName.get(rel.target)!;
  }

  all(): Resource[] {
    return [...this.#byName.values()];
  }
}

export type { TSchema };
