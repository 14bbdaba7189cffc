import type { Sql } from 'postgres';
import { planColumns, rowsQuery, sourceExpr, sourceTableOf, tableMapping, targetColumns, type ColumnPlan, type MappingFile } from './mapping.js';
import { findRefusals, loadTargetRules, tallyRefusals, type RefusalSummary, type TargetRules } from './constraints.js';
import type { Progress } from './progress.js';
import { assertAllRowsVisible, ident, ImportError, tableColumns } from './source.js';
import type { ImportTable } from './tables.js';
import { keepDocumentsUpdatedAt, syncIdentity, writeBatch, type WriteStrategy } from './writer.js';

// Data tables: plan (mapping, skip reasons computed in the source, conflicts with the target)
// and, with --apply, a streamed copy in batches, one transaction per batch.

export interface DataContext {
  source: Sql;
  target: Sql;
  mapping: MappingFile;
  /** Every importable data table (tables.ts), by name. */
  tables: Record<string, ImportTable>;
  /** Ids of auth.users that do not come across (deleted, collisions, ...). */
  skippedUserIds: string[];
  /** Column plans of every data table, so analyses can test their document's eligibility. */
  plans: Record<string, ColumnPlan>;
  /** offbase's constraints per table, loaded once. */
  rules?: Record<string, TargetRules>;
  /** dry run: ids of the rows offbase would refuse, per table, so their children are predicted too. */
  refusedIds?: Record<string, Set<string>>;
}

export interface DataPlan {
  source_table: string;
  source_rows: number;
  columns: { source: string; target: string }[];
  dropped: { source: string; reason: string }[];
  defaults: ColumnPlan['defaults'];
  will_import: number;
  skipped: Record<string, number>;
  conflicts: { already_in_target: number } | null;
  /** transforms from the mapping file, by offbase column. */
  transforms: ColumnPlan['transforms'];
  /** offbase generates ids; the source id is kept under supabase_id in this column. */
  generated_id: { source_id_into: string } | null;
  /** rows --apply would refuse (offbase constraints), and per column and problem, count and example ids. */
  will_refuse: number;
  refusals: RefusalSummary[];
}

export interface DataResult {
  read: number;
  inserted: number;
  /** --update: rows refreshed because the source had a newer updated_at. */
  updated: number;
  already_present: number;
  /** rows the source filter let through whose parent is not in offbase (e.g. --only without users). */
  parent_missing_in_target: number;
  /** rows offbase refused (first 100 listed), with the database's reason. */
  rejected: number;
  rejected_rows: { id: string; error: string }[];
  /** analyses: whether documents kept their source updated_at (needs table ownership). */
  documents_updated_at_kept?: boolean;
  seconds: number;
  rows_per_s: number;
}

/** A data table's declaration. */
export function tableSpec(ctx: DataContext, table: string): ImportTable {
  const spec = Object.hasOwn(ctx.tables, table) ? ctx.tables[table] : undefined;
  if (!spec) throw new ImportError(`no table ${table} is declared`);
  return spec;
}

/** The SQL type of a parent's id: users are uuid. */
const parentIdType = (ctx: DataContext, parent: string) => (parent === 'users' ? 'uuid' : tableSpec(ctx, parent).idType);

export async function loadColumnPlan(ctx: DataContext, table: string): Promise<ColumnPlan> {
  const { schema, name } = sourceTableOf(table, ctx.mapping);
  const source = await tableColumns(ctx.source, schema, name);
  if (source.length === 0) throw new ImportError(`the source has no table ${schema}.${name}${tableMapping(ctx.mapping, table)?.table ? '' : ` (name it with --mapping)`}`);
  // Row level security would hide rows from a role that neither owns the table nor bypasses
  // RLS, and the import would silently miss them: refuse instead.
  await assertAllRowsVisible(ctx.source, schema, name);
  const target = await tableColumns(ctx.target, 'public', table);
  if (target.length === 0) throw new ImportError(`offbase table ${table} does not exist: run migrations first`);
  return planColumns(tableSpec(ctx, table), source, target, ctx.mapping);
}

const USER_OK = (expr: string) => `exists (select 1 from auth.users u where u.id = ${expr} and u.deleted_at is null and u.id <> all($1::uuid[]))`;

/** SQL (alias t, parameter $1 = skipped user ids) true when the row comes across. */
export function eligibleWhere(ctx: DataContext, table: string, alias = 't'): string {
  const plan = ctx.plans[table]!;
  const parts: string[] = [];
  for (const [col, parent] of Object.entries(tableSpec(ctx, table).parents)) {
    const expr = `${sourceExpr(plan, col).replace(/^t\./, `${alias}.`)}::${parentIdType(ctx, parent)}`;
    if (parent === 'users') parts.push(USER_OK(expr));
    else {
      const p = ctx.plans[parent];
      if (!p) continue;
      const [schema, name] = p.sourceTable.split('.') as [string, string];
      const pa = `${alias}_${parent}`;
      parts.push(
        `exists (select 1 from ${ident(schema)}.${ident(name)} ${pa} where ${sourceExpr(p, 'id').replace(/^t\./, `${pa}.`)}::${parentIdType(ctx, parent)} = ${expr} and ${eligibleWhere(ctx, parent, pa)})`,
      );
    }
  }
  return parts.length ? parts.join(' and ') : 'true';
}

/** Why a row is skipped, as a SQL case expression (null: it comes across). */
function reasonCase(ctx: DataContext, table: string): string {
  const plan = ctx.plans[table]!;
  const whens: string[] = [];
  for (const [col, parent] of Object.entries(tableSpec(ctx, table).parents)) {
    const expr = `${sourceExpr(plan, col)}::${parentIdType(ctx, parent)}`;
    const label = col.replace(/_id$/, '');
    if (parent === 'users') {
      whens.push(`when not exists (select 1 from auth.users u where u.id = ${expr}) then '${label}_missing'`);
      whens.push(`when exists (select 1 from auth.users u where u.id = ${expr} and u.deleted_at is not null) then '${label}_deleted'`);
      whens.push(`when ${expr} = any($1::uuid[]) then '${label}_not_imported'`);
    } else if (ctx.plans[parent]) {
      const p = ctx.plans[parent]!;
      const [schema, name] = p.sourceTable.split('.') as [string, string];
      whens.push(
        `when not exists (select 1 from ${ident(schema)}.${ident(name)} t_p where ${sourceExpr(p, 'id').replace(/^t\./, 't_p.')}::${parentIdType(ctx, parent)} = ${expr} and ${eligibleWhere(ctx, parent, 't_p')}) then '${label}_not_imported'`,
      );
    }
  }
  return whens.length ? `case ${whens.join(' ')} end` : 'null::text';
}

/** Binds $1 (skipped user ids) only when the statement uses it: PostgreSQL rejects untyped unused parameters. */
export const withSkipped = (query: string, ids: string[]) => (query.includes('$1') ? [ids] : []);

const fromClause = (plan: ColumnPlan) => {
  const [schema, name] = plan.sourceTable.split('.') as [string, string];
  return `${ident(schema)}.${ident(name)} t`;
};

export async function planData(ctx: DataContext, table: string, opts: { checkConflicts: boolean; batchSize: number; progress: Progress }): Promise<DataPlan> {
  const plan = ctx.plans[table]!;
  const reasons = await ctx.source.unsafe<{ reason: string | null; n: number }[]>(
    `select ${reasonCase(ctx, table)} as reason, count(*)::int as n from ${fromClause(plan)} group by 1`,
    withSkipped(reasonCase(ctx, table), ctx.skippedUserIds),
  );
  const skipped: Record<string, number> = {};
  let total = 0;
  let willImport = 0;
  for (const r of reasons) {
    total += r.n;
    if (r.reason === null) willImport = r.n;
    else skipped[r.reason] = r.n;
  }
  let conflicts: DataPlan['conflicts'] = null;
  const tally = new Map<string, RefusalSummary>();
  let willRefuse = 0;
  if (opts.checkConflicts) {
    // One streamed read of the rows as they would be written: ids already in offbase (the
    // apply leaves those rows untouched) and every row an offbase constraint would refuse.
    const rules = await rulesOf(ctx, table);
    conflicts = { already_in_target: 0 };
    opts.progress.start(`${table} (checks)`, willImport);
    const rows = ctx.source
      .unsafe<{ j: string }[]>(rowsQuery(plan, tableSpec(ctx, table).idType, eligibleWhere(ctx, table)), withSkipped(eligibleWhere(ctx, table), ctx.skippedUserIds))
      .cursor(opts.batchSize);
    const refusedIds = ((ctx.refusedIds ??= {})[table] = new Set<string>());
    // A row whose parent would be refused cannot come across either (analyses of a refused document).
    const refusedParents = Object.entries(tableSpec(ctx, table).parents)
      .map(([col, parent]) => [col, ctx.refusedIds?.[parent]] as const)
      .filter((x): x is readonly [string, Set<string>] => (x[1]?.size ?? 0) > 0);
    for await (const batch of rows) {
      const texts = batch.map((b) => b.j);
      const refused = await findRefusals(ctx.target, rules, texts);
      if (refusedParents.length) {
        const seen = new Set(refused.map((r) => r.index));
        texts.forEach((text, index) => {
          const row = JSON.parse(text) as Record<string, unknown>;
          for (const [col, ids] of refusedParents) {
            if (!ids.has(String(row[col]))) continue;
            const problem = { column: col, problem: 'its parent would be refused', message: `its ${col.replace(/_id$/, '')} was refused` };
            const r = refused.find((x) => x.index === index);
            if (r) r.problems.push(problem);
            else if (!seen.has(index)) refused.push({ index, id: String(row.__source_id ?? row.id), problems: [problem] });
          }
        });
      }
      for (const r of refused) refusedIds.add(r.id);
      willRefuse += refused.length;
      tallyRefusals(tally, refused);
      conflicts.already_in_target += await alreadyInTarget(ctx, table, texts);
      opts.progress.tick(batch.length);
    }
    opts.progress.stop();
  }
  return {
    source_table: plan.sourceTable,
    source_rows: total,
    columns: plan.mapped.map((c) => ({ source: c.source, target: c.target })),
    dropped: plan.dropped,
    defaults: plan.defaults,
    will_import: willImport - willRefuse,
    skipped,
    conflicts,
    transforms: plan.transforms,
    generated_id: plan.generatedId ? { source_id_into: plan.generatedId.sourceIdInto } : null,
    will_refuse: willRefuse,
    refusals: [...tally.values()],
  };
}

async function rulesOf(ctx: DataContext, table: string): Promise<TargetRules> {
  ctx.rules ??= {};
  return (ctx.rules[table] ??= await loadTargetRules(ctx.target, table, ctx.plans[table]!, targetColumns(ctx.plans[table]!)));
}

/** How many of these rows (JSON texts) offbase already holds, by id or by kept source id. */
async function alreadyInTarget(ctx: DataContext, table: string, rows: string[]): Promise<number> {
  const plan = ctx.plans[table]!;
  const query = plan.generatedId
    ? `select count(*)::int as n from ${ident(table)} where ${ident(plan.generatedId.sourceIdInto)} ->> 'supabase_id' = any(select e ->> '__source_id' from json_array_elements($1::text::json) e)`
    : `select count(*)::int as n from ${ident(table)} where id = any(select (e ->> 'id')::${tableSpec(ctx, table).idType} from json_array_elements($1::text::json) e)`;
  const [r] = await ctx.target.unsafe<{ n: number }[]>(query, [`[${rows.join(',')}]`]);
  return r!.n;
}

export async function copyData(
  ctx: DataContext,
  table: string,
  opts: { batchSize: number; strategy: WriteStrategy; progress: Progress; expected: number; update?: boolean },
): Promise<DataResult> {
  const plan = ctx.plans[table]!;
  const around = table === 'analyses' ? await keepDocumentsUpdatedAt(ctx.target) : null;
  const rules = await rulesOf(ctx, table);
  const spec = {
    table,
    columns: targetColumns(plan),
    parents: tableSpec(ctx, table).parents,
    update: opts.update ?? false,
    ...(around ? { around } : {}),
    ...(plan.generatedId ? { sourceIdInto: plan.generatedId.sourceIdInto } : {}),
    ...(rules.parseJson.length ? { parseJson: rules.parseJson } : {}),
  };
  const result: DataResult = { read: 0, inserted: 0, updated: 0, already_present: 0, parent_missing_in_target: 0, rejected: 0, rejected_rows: [], seconds: 0, rows_per_s: 0 };
  if (table === 'analyses') result.documents_updated_at_kept = around !== null;
  const started = Date.now();
  opts.progress.start(table, opts.expected);
  // The cursor holds one batch at a time: memory stays flat whatever the table size.
  const cursor = ctx.source
    .unsafe<{ j: string }[]>(rowsQuery(plan, tableSpec(ctx, table).idType, eligibleWhere(ctx, table)), withSkipped(eligibleWhere(ctx, table), ctx.skippedUserIds))
    .cursor(opts.batchSize);
  for await (const batch of cursor) {
    // Rows an offbase constraint refuses are set aside (and reported) before the batch is
    // written, so the rest goes in as one statement.
    const texts = batch.map((b) => b.j);
    const refused = await findRefusals(ctx.target, rules, texts);
    const skip = new Set(refused.map((x) => x.index));
    const r = await writeBatch(
      ctx.target,
      spec,
      skip.size ? texts.filter((_, i) => !skip.has(i)) : texts,
      opts.strategy,
    );
    r.total += refused.length;
    r.eligible += refused.length;
    r.rejected = [...refused.map((x) => ({ id: x.id, error: x.problems.map((p) => p.message).join('; ') })), ...(r.rejected ?? [])];
    result.read += r.total;
    result.inserted += r.inserted;
    const rejected = r.rejected ?? [];
    result.updated += r.updated;
    result.already_present += r.eligible - r.inserted - r.updated - rejected.length;
    result.parent_missing_in_target += r.total - r.eligible;
    result.rejected += rejected.length;
    result.rejected_rows.push(...rejected.slice(0, Math.max(0, 100 - result.rejected_rows.length)));
    opts.progress.tick(batch.length);
  }
  opts.progress.stop();
  if (/^(bigint|integer|smallint)$/.test(tableSpec(ctx, table).idType) && !plan.generatedId) await syncIdentity(ctx.target, table);
  result.seconds = (Date.now() - started) / 1000;
  result.rows_per_s = result.seconds > 0 ? Math.round(result.read / result.seconds) : 0;
  return result;
}
