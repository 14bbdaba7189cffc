import type { Sql } from 'postgres';
import {
  PARENTS,
  planColumns,
  rowsQuery,
  sourceExpr,
  sourceTableOf,
  targetColumns,
  type ColumnPlan,
  type DataTable,
  type MappingFile,
} from './mapping.js';
import type { Progress } from './progress.js';
import { assertAllRowsVisible, ident, ImportError, tableColumns } from './source.js';
import { keepDocumentsUpdatedAt, syncIdentity, writeBatch, type WriteStrategy } from './writer.js';

// Data tables: plan (mapping, skip reasons computed in the source, conflicts with the target)
// and, with --apply, a streamed copy in batches, one transaction per batch.

export const ID_TYPES: Record<DataTable, string> = { documents: 'uuid', analyses: 'uuid', audit_logs: 'bigint' };

export interface DataContext {
  source: Sql;
  target: Sql;
  mapping: MappingFile;
  /** Ids of auth.users that do not come across (deleted, collisions, ...). */
  skippedUserIds: string[];
  /** Column plans of every data table, so analyses can test their document's eligibility. */
  plans: Partial<Record<DataTable, ColumnPlan>>;
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

export async function loadColumnPlan(ctx: DataContext, table: DataTable): Promise<ColumnPlan> {
  const { schema, name } = sourceTableOf(table, ctx.mapping);
  const source = await tableColumns(ctx.source, schema, name);
  if (source.length === 0) throw new ImportError(`the source has no table ${schema}.${name}${ctx.mapping[table]?.table ? '' : ` (name it with --mapping)`}`);
  // Row level security would hide rows from a role that neither owns the table nor bypasses
  // RLS, and the import would silently miss them: refuse instead.
  await assertAllRowsVisible(ctx.source, schema, name);
  const target = await tableColumns(ctx.target, 'public', table);
  if (target.length === 0) throw new ImportError(`offbase table ${table} does not exist: run migrations first`);
  return planColumns(table, source, target, ctx.mapping);
}

const USER_OK = (expr: string) => `exists (select 1 from auth.users u where u.id = ${expr} and u.deleted_at is null and u.id <> all($1::uuid[]))`;

/** SQL (alias t, parameter $1 = skipped user ids) true when the row comes across. */
export function eligibleWhere(ctx: DataContext, table: DataTable, alias = 't'): string {
  const plan = ctx.plans[table]!;
  const parts: string[] = [];
  for (const [col, parent] of Object.entries(PARENTS[table])) {
    const expr = sourceExpr(plan, col).replace(/^t\./, `${alias}.`) + '::uuid';
    if (parent === 'users') parts.push(USER_OK(expr));
    else {
      const p = ctx.plans[parent as DataTable];
      if (!p) continue;
      const [schema, name] = p.sourceTable.split('.') as [string, string];
      const pa = `${alias}_${parent}`;
      parts.push(
        `exists (select 1 from ${ident(schema)}.${ident(name)} ${pa} where ${sourceExpr(p, 'id').replace(/^t\./, `${pa}.`)}::uuid = ${expr} and ${eligibleWhere(ctx, parent as DataTable, pa)})`,
      );
    }
  }
  return parts.length ? parts.join(' and ') : 'true';
}

/** Why a row is skipped, as a SQL case expression (null: it comes across). */
function reasonCase(ctx: DataContext, table: DataTable): string {
  const plan = ctx.plans[table]!;
  const whens: string[] = [];
  for (const [col, parent] of Object.entries(PARENTS[table])) {
    const expr = `${sourceExpr(plan, col)}::uuid`;
    const label = col.replace(/_id$/, '');
    if (parent === 'users') {
      whens.push(`when not exists (select 1 from auth.users u where u.id = ${expr}) then '${label}_missing'`);
      whens.push(`when exists (select 1 from auth.users u where u.id = ${expr} and u.deleted_at is not null) then '${label}_deleted'`);
      whens.push(`when ${expr} = any($1::uuid[]) then '${label}_not_imported'`);
    } else if (ctx.plans[parent as DataTable]) {
      const p = ctx.plans[parent as DataTable]!;
      const [schema, name] = p.sourceTable.split('.') as [string, string];
      whens.push(
        `when not exists (select 1 from ${ident(schema)}.${ident(name)} t_p where ${sourceExpr(p, 'id').replace(/^t\./, 't_p.')}::uuid = ${expr} and ${eligibleWhere(ctx, parent as DataTable, 't_p')}) then '${label}_not_imported'`,
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

export async function planData(ctx: DataContext, table: DataTable, opts: { checkConflicts: boolean; batchSize: number; progress: Progress }): Promise<DataPlan> {
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
  if (opts.checkConflicts) {
    // Ids already in offbase: the apply will leave those rows untouched.
    const idType = ID_TYPES[table];
    conflicts = { already_in_target: 0 };
    opts.progress.start(`${table} (conflicts)`, willImport);
    const ids = ctx.source
      .unsafe<{ id: string }[]>(
        `select (${sourceExpr(plan, 'id')})::${idType}::text as id from ${fromClause(plan)} where ${eligibleWhere(ctx, table)}`,
        withSkipped(eligibleWhere(ctx, table), ctx.skippedUserIds),
      )
      .cursor(opts.batchSize);
    for await (const batch of ids) {
      const [r] = await ctx.target.unsafe<{ n: number }[]>(`select count(*)::int as n from ${ident(table)} where id = any($1::${idType}[])`, [
        batch.map((b) => b.id),
      ]);
      conflicts.already_in_target += r!.n;
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
    will_import: willImport,
    skipped,
    conflicts,
  };
}

export async function copyData(
  ctx: DataContext,
  table: DataTable,
  opts: { batchSize: number; strategy: WriteStrategy; progress: Progress; expected: number; update?: boolean },
): Promise<DataResult> {
  const plan = ctx.plans[table]!;
  const around = table === 'analyses' ? await keepDocumentsUpdatedAt(ctx.target) : null;
  const spec = { table, columns: targetColumns(plan), parents: PARENTS[table], update: opts.update ?? false, ...(around ? { around } : {}) };
  const result: DataResult = { read: 0, inserted: 0, updated: 0, already_present: 0, parent_missing_in_target: 0, rejected: 0, rejected_rows: [], seconds: 0, rows_per_s: 0 };
  if (table === 'analyses') result.documents_updated_at_kept = around !== null;
  const started = Date.now();
  opts.progress.start(table, opts.expected);
  // The cursor holds one batch at a time: memory stays flat whatever the table size.
  const cursor = ctx.source
    .unsafe<{ j: string }[]>(rowsQuery(plan, ID_TYPES[table], eligibleWhere(ctx, table)), withSkipped(eligibleWhere(ctx, table), ctx.skippedUserIds))
    .cursor(opts.batchSize);
  for await (const batch of cursor) {
    const r = await writeBatch(
      ctx.target,
      spec,
      batch.map((b) => b.j),
      opts.strategy,
    );
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
  if (ID_TYPES[table] === 'bigint') await syncIdentity(ctx.target, table);
  result.seconds = (Date.now() - started) / 1000;
  result.rows_per_s = result.seconds > 0 ? Math.round(result.read / result.seconds) : 0;
  return result;
}
