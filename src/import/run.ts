import { writeFileSync } from 'node:fs';
import { loadConfig } from '../config.js';
import type { Sql } from 'postgres';
import type { Resource } from '../resources/index.js';
import { copyData, loadColumnPlan, planData, type DataContext, type DataPlan, type DataResult } from './data-pass.js';
import { checkMappingTables, loadMappingFile, type TableName } from './mapping.js';
import { createProgress, type Progress } from './progress.js';
import { describeDbError, ImportError, openSource, openTarget, passwordOf, redactSecret, redactUrl, userOf } from './source.js';
import { importMfaFactors, planMfaFactors, type MfaPlan } from './mfa-factors.js';
import { hasSessionTables, sessionsPass, type SessionsPlan, type SessionsResult } from './sessions-pass.js';
import { ACCOUNT_KINDS, checkUsersSource, usersPass, type AccountKind, type UsersPlan, type UsersResult } from './users-pass.js';
import { importTables, tableNames, type ImportTable } from './tables.js';
import { validateTable, type TableValidation } from './validate.js';
import type { WriteStrategy } from './writer.js';

// `import-supabase`: plan → (with --apply) copy → validate → report.

export interface ImportOptions {
  sourceUrl: string;
  targetUrl: string;
  apply: boolean;
  /** Compare source and offbase without writing (after an import, or before cut-over). */
  validateOnly?: boolean;
  /** Refresh rows whose source updated_at is newer than offbase's (final sync before cut-over). */
  update?: boolean;
  only: TableName[];
  /** Owned tables declared besides the built-in ones (as buildApp's `resources`): each can be imported with a mapping entry. */
  resources?: readonly Resource[];
  batchSize: number;
  mappingPath?: string;
  reportPath?: string;
  strategy?: WriteStrategy;
  /** Import users whose verified MFA factors offbase cannot carry (phone, WebAuthn, encrypted secrets): they would sign in with the password alone. */
  allowMfaDowngrade?: boolean;
  /** offbase's REFRESH_TOKEN_TTL (seconds): imported sessions live at most that long. Default 30 days. */
  refreshTokenTtlS?: number;
  /** offbase's MFA keys (config.auth.mfa): imported TOTP secrets are sealed with them. Default: the configuration of this process. */
  mfaKeys?: { encryptionKey: string; previousKeys: readonly string[] };
  /** Plan and summary lines (stdout in the CLI). */
  out?: (line: string) => void;
  progress?: Progress;
}

export interface ImportReport {
  mode: 'dry-run' | 'apply' | 'validate';
  source: string;
  started_at: string;
  finished_at: string;
  tables: TableName[];
  /** users, sessions, mfa and one DataPlan per data table, by table name (see dataPlan). */
  plan: { users?: UsersPlan; sessions?: SessionsPlan; mfa?: MfaPlan; documents?: DataPlan; analyses?: DataPlan; audit_logs?: DataPlan; [table: string]: UsersPlan | SessionsPlan | MfaPlan | DataPlan | undefined };
  results: { users?: UsersResult; sessions?: SessionsResult; documents?: DataResult; analyses?: DataResult; audit_logs?: DataResult; [table: string]: UsersResult | SessionsResult | DataResult | undefined };
  validation: { ok: boolean; tables: Record<TableName, TableValidation> } | null;
  /** What --apply would refuse (the dry run) or refused to do: one line each. */
  refusals: string[];
}

/** A data table's plan and result in a report. */
export const dataPlan = (r: ImportReport, table: string) => (table === 'users' || table === 'sessions' || table === 'mfa' ? undefined : (r.plan[table] as DataPlan | undefined));
export const dataResult = (r: ImportReport, table: string) => (table === 'users' || table === 'sessions' ? undefined : (r.results[table] as DataResult | undefined));

/** --only: users and the declared data tables (default: all of them), in import order. */
export function parseOnly(value: string | undefined, resources: readonly Resource[] = []): TableName[] {
  const all = tableNames(importTables(resources));
  if (!value) return all;
  const names = value.split(',').map((s) => s.trim()).filter(Boolean);
  for (const n of names) {
    if (!all.includes(n)) throw new ImportError(`--only: unknown table ${n} (one of ${all.join(', ')})`);
  }
  return all.filter((t) => names.includes(t));
}

export async function runImport(o: ImportOptions): Promise<ImportReport> {
  const out = o.out ?? ((l: string) => process.stdout.write(`${l}\n`));
  const progress = o.progress ?? createProgress();
  const strategy = o.strategy ?? 'insert';
  const secrets = [passwordOf(o.sourceUrl), passwordOf(o.targetUrl)];
  const mapping = loadMappingFile(o.mappingPath);
  const report: ImportReport = {
    mode: o.validateOnly ? 'validate' : o.apply ? 'apply' : 'dry-run',
    source: redactUrl(o.sourceUrl),
    started_at: new Date().toISOString(),
    finished_at: '',
    tables: o.only,
    plan: {},
    results: {},
    validation: null,
    refusals: [],
  };
  const source = openSource(o.sourceUrl);
  if (o.apply && o.validateOnly) throw new ImportError('--apply and --validate cannot be combined');
  if (o.update && !o.apply) throw new ImportError('--update needs --apply');
  const target = openTarget(o.targetUrl, !o.apply);
  try {
    await connect(source, 'cannot connect to the source', secrets);
    await connect(target, 'cannot connect to the offbase database', secrets);
    await execute(o, { source, target, mapping, report, progress, strategy, out });
  } catch (err) {
    if (err instanceof ImportError) throw new ImportError(redactSecret(err.message, secrets));
    throw new ImportError(describeDbError(err, 'import failed', secrets, userOf(o.sourceUrl)));
  } finally {
    progress.stop();
    await Promise.allSettled([source.end({ timeout: 5 }), target.end({ timeout: 5 })]);
  }
  return report;
}

async function connect(sql: Sql, what: string, secrets: string[]) {
  try {
    await sql`select 1`;
  } catch (err) {
    throw new ImportError(describeDbError(err, what, secrets));
  }
}

async function execute(
  o: ImportOptions,
  x: { source: Sql; target: Sql; mapping: ReturnType<typeof loadMappingFile>; report: ImportReport; progress: Progress; strategy: WriteStrategy; out: (l: string) => void },
) {
  const { report, progress, out } = x;
  const declared = importTables(o.resources);
  const names = tableNames(declared);
  checkMappingTables(x.mapping, names);
  for (const t of o.only) if (!names.includes(t)) throw new ImportError(`unknown table ${t} (one of ${names.join(', ')})`);
  const tables: Record<string, ImportTable> = Object.fromEntries(declared.map((t) => [t.name, t]));
  // Data tables in import order: a parent before its children.
  const data = declared.map((t) => t.name).filter((t) => o.only.includes(t));
  const ctx: DataContext = { source: x.source, target: x.target, mapping: x.mapping, tables, skippedUserIds: [], plans: {} };
  const needUsers = o.only.includes('users') || data.some((t) => Object.values(tables[t]!.parents).includes('users'));
  let src: Awaited<ReturnType<typeof checkUsersSource>> | null = null;
  if (needUsers) {
    src = await checkUsersSource(x.source, x.mapping.users);
    // Verified TOTP factors come across; users with factors offbase cannot carry would sign in with the password alone.
    if (o.only.includes('users')) {
      const mfa = (report.plan.mfa = await planMfaFactors(x.source, src));
      if (mfa.uncarried_users.length && !o.allowMfaDowngrade) {
        const kinds = [...new Set(mfa.uncarried_users.flatMap((u) => u.factor_types))].sort().join(', ');
        const line = `${mfa.uncarried_users.length} user(s) have verified MFA factors offbase cannot carry (${kinds}): they would sign in with the password alone; pass --allow-mfa-downgrade to import them anyway`;
        if (o.apply) throw new ImportError(`--apply refused: ${line}`);
        report.refusals.push(line);
      }
    }
  }
  // Every selected table is checked before anything is written: a missing table fails fast.
  for (const t of data) ctx.plans[t] = await loadColumnPlan(ctx, t);
  // A child is eligible only when its parent is (analyses of an imported document): the parent's mapping is needed too.
  const withParents = async (t: string): Promise<void> => {
    for (const p of Object.values(tables[t]!.parents)) {
      if (p === 'users') continue;
      ctx.plans[p] ??= await loadColumnPlan(ctx, p);
      await withParents(p);
    }
  };
  for (const t of data) await withParents(t);

  if (needUsers) {
    const writeUsers = o.apply && o.only.includes('users');
    const u = await usersPass({
      source: x.source,
      target: x.target,
      apply: writeUsers,
      batchSize: o.batchSize,
      strategy: x.strategy,
      progress,
      update: o.update ?? false,
      ...(x.mapping.users ? { mapping: x.mapping.users } : {}),
    });
    ctx.skippedUserIds = u.skippedIds;
    if (o.only.includes('users')) {
      report.plan.users = u.plan;
      if (u.result) report.results.users = u.result;
      // Live sessions and refresh tokens come with their users: nobody is logged out by the move.
      if (await hasSessionTables(x.source)) {
        const sp = await sessionsPass({
          source: x.source,
          target: x.target,
          apply: writeUsers,
          batchSize: o.batchSize,
          progress,
          skippedUserIds: u.skippedIds,
          refreshTtlS: o.refreshTokenTtlS ?? 30 * 86_400,
        });
        report.plan.sessions = sp.plan;
        if (sp.result) report.results.sessions = sp.result;
      }
    }
    if (writeUsers && src && report.plan.mfa) report.plan.mfa.imported = await importMfaFactors(x.source, x.target, src, o.mfaKeys ?? loadConfig(process.env, { requireJwtSecret: false }).auth.mfa);
  }
  for (const t of data) {
    const plan = await planData(ctx, t, { checkConflicts: !o.apply && !o.validateOnly, batchSize: o.batchSize, progress });
    report.plan[t] = plan;
    if (plan.will_refuse) {
      const what = plan.refusals.map((x) => `${x.column} ${x.problem} ${x.count}`).join(', ');
      report.refusals.push(`${t}: ${plan.will_refuse} row(s) offbase would refuse (${what}); fix them with transforms in the mapping file`);
    }
    if (o.apply) report.results[t] = await copyData(ctx, t, { batchSize: o.batchSize, strategy: x.strategy, progress, expected: plan.will_import, update: o.update ?? false });
  }
  if (o.apply || o.validateOnly) {
    report.validation = { ok: true, tables: {} };
    for (const t of o.only) {
      const v = await validateTable(t === 'users' ? null : ctx, t, x.source, x.target, ctx.skippedUserIds);
      report.validation.tables[t] = v;
      if (!v.ok) report.validation.ok = false;
    }
  }
  report.finished_at = new Date().toISOString();
  if (o.reportPath) writeFileSync(o.reportPath, `${JSON.stringify(report, null, 2)}\n`);
  for (const line of summarize(report)) out(line);
  for (const line of report.refusals) out(`${report.mode === 'dry-run' ? '--apply would refuse' : 'refused'}: ${line}`);
  if (report.mode === 'dry-run' && report.refusals.length) {
    throw new ImportError(`--apply would refuse: ${report.refusals.join('; ')}`);
  }
  if (report.validation && !report.validation.ok) {
    throw new ImportError(`validation failed: ${describeFailures(report.validation.tables).join('; ')}`);
  }
}

function describeFailures(tables: Record<TableName, TableValidation>): string[] {
  return Object.entries(tables)
    .filter(([, v]) => !v.ok)
    .map(([t, v]) => {
      const parts = [];
      if (v.missing_in_target) parts.push(`${v.missing_in_target} missing`);
      if (v.content_mismatches) parts.push(`${v.content_mismatches} changed`);
      if (v.analysis_count_mismatches) parts.push(`${v.analysis_count_mismatches} wrong analysis_count`);
      return `${t}: ${parts.join(', ')}`;
    });
}

const count = (r: Record<string, number | undefined>) =>
  Object.entries(r)
    .filter(([, n]) => n)
    .map(([k, n]) => `${k} ${n}`)
    .join(', ') || 'none';

/** Addresses per kind in the text plan; the report lists up to 1000. */
const TEXT_CAP = 20;

/** The human-readable plan and results; the full detail is in --report. */
export function summarize(r: ImportReport): string[] {
  const mode = { apply: '--apply', validate: '--validate (nothing is written)', 'dry-run': '(dry run: nothing is written)' }[r.mode];
  const lines = [`import-supabase ${mode} from ${r.source}`];
  const u = r.plan.users;
  if (u) {
    lines.push(`users: ${u.source_rows} in auth.users, ${u.will_import} to import, skipped: ${count(u.skipped)}`);
    for (const c of u.columns) lines.push(`  ${c.source} → ${c.target}${c.note ? ` (${c.note})` : ''}`);
    if (u.dropped.length) lines.push(`  not imported: ${u.dropped.join(', ')}`);
    lines.push(`  admins ${u.admins}, banned → disabled ${u.banned}, already in offbase ${u.conflicts.already_in_target}`);
    for (const c of u.email_collisions) {
      lines.push(`  shared address ${c.email}: ${c.ids.join(', ')}; keeping ${c.kept} (${c.why}), the others are skipped`);
    }
    for (const [kind, a] of Object.entries(u.accounts) as [AccountKind, NonNullable<UsersPlan['accounts'][AccountKind]>][]) {
      const shown = a.users.slice(0, TEXT_CAP).map((x) => x.email ?? x.phone ?? x.id);
      const more = a.count > shown.length ? `, and ${a.count - shown.length} more (see --report)` : '';
      lines.push(`  ${kind} ${a.count} ${a.imported ? 'imported' : 'skipped'}: ${ACCOUNT_KINDS[kind].note}${shown.length ? `: ${shown.join(', ')}${more}` : ''}`);
    }
    for (const s of u.skipped_users.slice(0, TEXT_CAP * 5)) lines.push(`  skipped ${s.id} (${s.reason})`);
    const unlisted = Object.values(u.skipped).reduce((a, n) => a + (n ?? 0), 0) - Math.min(u.skipped_users.length, TEXT_CAP * 5);
    if (unlisted > 0) lines.push(`  ... and ${unlisted} more skipped (see --report)`);
  }
  for (const t of r.tables) {
    const p = dataPlan(r, t);
    if (!p) continue;
    const conflicts = p.conflicts ? `, already in offbase ${p.conflicts.already_in_target}` : '';
    lines.push(`${t}: ${p.source_rows} in ${p.source_table}, ${p.will_import} to import, skipped: ${count(p.skipped)}${conflicts}`);
    lines.push(`  columns: ${p.columns.map((c) => (c.source === c.target ? c.source : `${c.source} → ${c.target}`)).join(', ')}`);
    if (p.dropped.length) lines.push(`  dropped: ${p.dropped.map((d) => `${d.source} (${d.reason})`).join(', ')}`);
    if (p.defaults.length) lines.push(`  defaults: ${p.defaults.map((d) => `${d.target} = ${d.from === 'mapping file' ? JSON.stringify(d.value) : d.from}`).join(', ')}`);
    for (const [col, tr] of Object.entries(p.transforms)) {
      const parts = [];
      if (tr.when_null !== undefined) parts.push(`NULL → ${JSON.stringify(tr.when_null)}`);
      for (const [from, to] of Object.entries(tr.values ?? {})) parts.push(`${from} → ${JSON.stringify(to)}`);
      lines.push(`  transform ${col}: ${parts.join(', ')}`);
    }
    if (p.generated_id) lines.push(`  id: generated by offbase; the source id is kept as ${p.generated_id.source_id_into}.supabase_id`);
    if (p.will_refuse) lines.push(`  offbase would refuse ${p.will_refuse} row(s):`);
    for (const x of p.refusals) lines.push(`    ${x.column}: ${x.problem}: ${x.count} (e.g. ${x.examples.join(', ')})`);
  }
  const sp = r.plan.sessions;
  if (sp) {
    lines.push(`sessions: ${sp.live_sessions} live in auth.sessions, ${sp.will_import} to import (refresh tokens: v1 ${sp.refresh_tokens.v1}, v2 ${sp.refresh_tokens.v2}), skipped: ${count(sp.skipped)}`);
    if (sp.not_carried.tokens_without_session) lines.push(`  not carried: ${sp.not_carried.tokens_without_session} live refresh token(s) without a session (pre-session GoTrue): those users sign in again`);
    if (sp.skipped.hmac_key_encrypted) lines.push(`  not carried: ${sp.skipped.hmac_key_encrypted} session(s) whose v2 refresh-token key GoTrue encrypted: those users sign in again`);
  }
  const rs = r.results.sessions;
  if (rs) lines.push(`sessions: inserted ${rs.sessions_inserted} (refresh tokens ${rs.refresh_tokens_inserted}, retired ${rs.refresh_tokens_retired}), already used at offbase ${rs.sessions_left_alone}`);
  for (const [t, res] of Object.entries(r.results).filter(([t]) => t !== 'sessions') as [string, UsersResult | DataResult][]) {
    const refusedRows = 'rejected_rows' in res ? res.rejected_rows : (res as UsersResult).rejected;
    const refused = refusedRows.length ? `, refused by offbase ${'rejected_rows' in res ? res.rejected : refusedRows.length}` : '';
    lines.push(`${t}: inserted ${res.inserted}, updated ${res.updated}, already present ${res.already_present}${refused}, ${res.rows_per_s} rows/s (${res.seconds.toFixed(1)} s)`);
    for (const x of refusedRows) lines.push(`  refused ${x.id}: ${x.error}`);
  }
  if (r.validation) {
    for (const [t, v] of Object.entries(r.validation.tables)) {
      const detail = [`source ${v.source_count}`, `offbase ${v.target_count}`, `ids md5 ${v.source_ids_md5 === v.target_ids_md5 ? 'equal' : 'differ'}`];
      if (v.missing_in_target) detail.push(`missing ${v.missing_in_target}: ${v.missing_ids.join(', ')}`);
      if (v.extra_in_target) detail.push(`only in offbase ${v.extra_in_target}`);
      if (v.content_mismatches) detail.push(`content differs ${v.content_mismatches}: ${v.content_mismatch_ids!.join(', ')}`);
      if (v.analysis_count_mismatches) detail.push(`wrong analysis_count ${v.analysis_count_mismatches}`);
      lines.push(`validate ${t}: ${v.ok ? 'ok' : 'MISMATCH'} (${detail.join(', ')})`);
    }
  }
  return lines;
}
