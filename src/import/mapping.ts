import { readFileSync } from 'node:fs';
import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { ImportError, ident, type ColumnInfo } from './source.js';
import type { ImportTable } from './tables.js';

// Which source column lands in which offbase column. Data tables map by name, overridden by
// an optional mapping file for renamed columns; users have a fixed mapping (see users.ts).
// The data tables are the declared owned tables and audit_logs (see tables.ts).

/** users, or a data table's name. */
export type TableName = string;

/** How a value is changed on its way in: a replacement for NULL, and/or a map of values. */
export const TransformSchema = Type.Object(
  {
    /** the value (JSON) an offbase column gets where the source has NULL. */
    when_null: Type.Optional(Type.Unknown()),
    /** source value (as text) → offbase value (JSON), e.g. { "completed": "ready" }; others pass unchanged. */
    values: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  },
  { additionalProperties: false },
);
export type Transform = Static<typeof TransformSchema>;

const SourceTable = Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_$]*\\.[A-Za-z_][A-Za-z0-9_$]*$' });

// One entry shape for every data table, so any table offbase declares can get an entry.
export const TableMappingSchema = Type.Object(
  {
    /** schema.table in the source; defaults to public.<offbase table>. */
    table: Type.Optional(SourceTable),
    /** source column → offbase column; null drops the source column. */
    columns: Type.Optional(Type.Record(Type.String(), Type.Union([Type.String(), Type.Null()]))),
    /** offbase column → constant JSON value, for columns the source does not have. */
    defaults: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    /** offbase column → transform of the value the source column carries. */
    transforms: Type.Optional(Type.Record(Type.String(), TransformSchema)),
    /**
     * When the source id cannot be offbase's (uuid audit ids into bigint): offbase generates the
     * id and the source id is kept under "supabase_id" in the named jsonb column.
     */
    id: Type.Optional(Type.Object({ generate: Type.Literal(true), source_id_into: Type.String() }, { additionalProperties: false })),
  },
  { additionalProperties: false },
);
export type TableMapping = Static<typeof TableMappingSchema>;

export const UsersMappingSchema = Type.Object(
  {
    /** address → the auth.users id that keeps it when several accounts share it. */
    keep: Type.Optional(Type.Record(Type.String(), Type.String({ pattern: '^[0-9a-fA-F-]{36}$' }))),
    /** A profile table joined by id: its columns fill offbase's role / full_name / preferences / metadata. */
    profile: Type.Optional(
      Type.Object(
        {
          table: SourceTable,
          id: Type.Optional(Type.String()),
          columns: Type.Record(Type.String(), Type.Union([Type.Literal('role'), Type.Literal('full_name'), Type.Literal('preferences'), Type.Literal('metadata')])),
          transforms: Type.Optional(Type.Record(Type.String(), TransformSchema)),
        },
        { additionalProperties: false },
      ),
    ),
    /** The Firebase project's password hash parameters, for $fbscrypt$ hashes that do not carry them. */
    firebase_scrypt: Type.Optional(
      Type.Object(
        {
          signer_key: Type.String({ minLength: 1 }),
          salt_separator: Type.String(),
          rounds: Type.Integer({ minimum: 1, maximum: 32 }),
          mem_cost: Type.Integer({ minimum: 1, maximum: 20 }),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);
export type UsersMapping = Static<typeof UsersMappingSchema>;

// users, and one entry per data table (checked against the declared tables by checkMappingTables).
export const MappingFileSchema = Type.Object({ users: Type.Optional(UsersMappingSchema) }, { additionalProperties: TableMappingSchema });
export type MappingFile = { users?: UsersMapping; [table: string]: TableMapping | UsersMapping | undefined };

/** A data table's entry of the mapping file. */
export const tableMapping = (mapping: MappingFile, table: string): TableMapping | undefined =>
  table === 'users' || !Object.hasOwn(mapping, table) ? undefined : (mapping[table] as TableMapping);

/** Every entry of the mapping file must name users or a declared table. */
export function checkMappingTables(mapping: MappingFile, names: readonly string[]): void {
  for (const key of Object.keys(mapping)) {
    if (!names.includes(key)) throw new ImportError(`mapping file: no table ${key} is declared (one of ${names.join(', ')})`);
  }
}

export function loadMappingFile(path: string | undefined): MappingFile {
  if (!path) return {};
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new ImportError(`cannot read mapping file ${path}: ${(err as Error).message}`);
  }
  const error = Value.Errors(MappingFileSchema, raw).First();
  if (error) throw new ImportError(`mapping file ${path}: ${error.path || '/'} ${error.message}`);
  return raw as MappingFile;
}

export interface MappedColumn {
  source: string;
  target: string;
  targetType: string;
  sourceType: string;
  targetNotNull: boolean;
}

export interface ColumnPlan {
  sourceTable: string;
  mapped: MappedColumn[];
  /** source columns that are not copied, with why. */
  dropped: { source: string; reason: string }[];
  /** offbase columns filled without a source column. */
  defaults: { target: string; value: unknown; from: 'mapping file' | 'database default' | 'null' }[];
  /** offbase column → the mapping file's transform. */
  transforms: Record<string, Transform>;
  /** offbase generates the id; the source id goes under "supabase_id" in this jsonb column. */
  generatedId: { sourceIdInto: string } | null;
}

export function sourceTableOf(table: string, mapping: MappingFile): { schema: string; name: string } {
  const [schema, name] = (tableMapping(mapping, table)?.table ?? `public.${table}`).split('.') as [string, string];
  return { schema, name };
}

export function planColumns(spec: ImportTable, source: ColumnInfo[], target: ColumnInfo[], mapping: MappingFile): ColumnPlan {
  const table = spec.name;
  const m = tableMapping(mapping, table) ?? {};
  const managed = (t: ColumnInfo) => spec.managed[t.name] ?? (t.generated ? 'generated column' : undefined);
  const renames = m.columns ?? {};
  const constants = m.defaults ?? {};
  const byName = new Map(target.map((c) => [c.name, c]));
  const { schema, name } = sourceTableOf(table, mapping);
  const plan: ColumnPlan = { sourceTable: `${schema}.${name}`, mapped: [], dropped: [], defaults: [], transforms: m.transforms ?? {}, generatedId: null };
  const sourceNames = new Set(source.map((c) => c.name));
  for (const col of Object.keys(renames)) {
    if (!sourceNames.has(col)) throw new ImportError(`mapping for ${table}: source column ${col} does not exist in ${plan.sourceTable}`);
  }
  const covered = new Set<string>();
  for (const col of source) {
    const mapped = Object.hasOwn(renames, col.name) ? renames[col.name] : col.name;
    const t = mapped === null || mapped === undefined ? undefined : byName.get(mapped);
    if (mapped === null) plan.dropped.push({ source: col.name, reason: 'dropped by the mapping file' });
    else if (!t) plan.dropped.push({ source: col.name, reason: `offbase has no column ${mapped}` });
    else if (managed(t)) plan.dropped.push({ source: col.name, reason: managed(t)! });
    else if (covered.has(t.name)) throw new ImportError(`mapping for ${table}: two source columns map to ${t.name}`);
    else {
      plan.mapped.push({ source: col.name, target: t.name, targetType: t.type, sourceType: col.type, targetNotNull: t.notNull });
      covered.add(t.name);
    }
  }
  if (m.id) {
    const into = byName.get(m.id.source_id_into);
    if (!into || into.type !== 'jsonb') throw new ImportError(`mapping for ${table}: id.source_id_into must name a jsonb column of offbase's ${table}`);
    plan.generatedId = { sourceIdInto: into.name };
  }
  for (const col of Object.keys(plan.transforms)) {
    if (!plan.mapped.some((c) => c.target === col)) throw new ImportError(`mapping for ${table}: transforms.${col}: no source column maps to ${col}`);
  }
  for (const t of target) {
    if (plan.generatedId && t.name === plan.generatedId.sourceIdInto) covered.add(t.name);
    if (covered.has(t.name) || managed(t)) continue;
    if (Object.hasOwn(constants, t.name)) plan.defaults.push({ target: t.name, value: constants[t.name], from: 'mapping file' });
    else if (t.hasDefault) plan.defaults.push({ target: t.name, value: null, from: 'database default' });
    else if (!t.notNull) plan.defaults.push({ target: t.name, value: null, from: 'null' });
    else {
      throw new ImportError(
        `${table}: offbase column ${t.name} is required but ${plan.sourceTable} has no column ${t.name} (rename one or set a default with --mapping)`,
      );
    }
  }
  for (const required of ['id', ...Object.keys(spec.parents)]) {
    if (!covered.has(required)) throw new ImportError(`${table}: no source column maps to ${required} (use --mapping)`);
  }
  const id = plan.mapped.find((c) => c.target === 'id')!;
  if (!plan.generatedId && /^(bigint|integer|smallint)$/.test(id.targetType) && !/^(bigint|integer|smallint)$/.test(id.sourceType)) {
    throw new ImportError(
      `${table}: source ids are ${id.sourceType} but offbase's are ${id.targetType}: let offbase generate them and keep the source id, e.g. "id": { "generate": true, "source_id_into": "<a jsonb column>" } in the mapping file`,
    );
  }
  return plan;
}

export const quoteLiteral = (v: string) => `'${v.replace(/'/g, "''")}'`;

/** The source expression (on alias t) for an offbase column. */
export function sourceExpr(plan: ColumnPlan, target: string): string {
  const col = plan.mapped.find((c) => c.target === target);
  if (!col) throw new ImportError(`no source column for ${target}`);
  return `t.${ident(col.source)}`;
}

const jsonLiteral = (v: unknown) => `${quoteLiteral(JSON.stringify(v))}::json`;

/** The JSON value a mapped column carries, after its transform. */
function columnJson(col: MappedColumn, t: Transform | undefined): string {
  const src = `t.${ident(col.source)}`;
  if (!t) return src;
  const whens: string[] = [];
  if (t.when_null !== undefined) whens.push(`when ${src} is null then ${jsonLiteral(t.when_null)}`);
  for (const [from, to] of Object.entries(t.values ?? {})) whens.push(`when ${src}::text = ${quoteLiteral(from)} then ${jsonLiteral(to)}`);
  return whens.length ? `case ${whens.join(' ')} else to_json(${src}) end` : src;
}

/** The source id, as text: what reports name a row by. */
export const sourceIdText = (plan: ColumnPlan) => `${sourceExpr(plan, 'id')}::text`;

/**
 * SELECT yielding one JSON text per row, in offbase column names with the mapping file's
 * transforms applied, ordered by id. Every row also carries "__source_id" (ignored by the
 * writer's json_populate_recordset) so refusals name the source row, and generated-id tables
 * keep it (the writer merges it into the row's jsonb column).
 */
export function rowsQuery(plan: ColumnPlan, idType: string, where = 'true'): string {
  const cols: string[] = [];
  for (const c of plan.mapped) {
    if (plan.generatedId && c.target === 'id') continue;
    cols.push(`${columnJson(c, plan.transforms[c.target])} as ${ident(c.target)}`);
  }
  for (const d of plan.defaults) {
    if (d.from === 'mapping file') cols.push(`${jsonLiteral(d.value)} as ${ident(d.target)}`);
  }
  cols.push(`${sourceIdText(plan)} as "__source_id"`);
  const [schema, name] = plan.sourceTable.split('.') as [string, string];
  const order = plan.generatedId ? `x."__source_id" collate "C"` : `x.id::${idType}`;
  return `select row_to_json(x)::text as j from (select ${cols.join(', ')} from ${ident(schema)}.${ident(name)} t where ${where}) x order by ${order}`;
}

/** Offbase columns a row of this plan carries (what the writer inserts). */
export function targetColumns(plan: ColumnPlan): string[] {
  const cols = plan.mapped.map((c) => c.target).filter((c) => !(plan.generatedId && c === 'id'));
  if (plan.generatedId && !cols.includes(plan.generatedId.sourceIdInto)) cols.push(plan.generatedId.sourceIdInto);
  return [...cols, ...plan.defaults.filter((d) => d.from === 'mapping file').map((d) => d.target)];
}
