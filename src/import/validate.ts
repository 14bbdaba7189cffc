import { createHash } from 'node:crypto';
import type { Sql } from 'postgres';
import { eligibleWhere, tableSpec, withSkipped, type DataContext } from './data-pass.js';
import { ident } from './source.js';

// After --apply: the rows that should have come across (source, same eligibility rules as the
// copy) against what offbase holds. Both sides are streamed in id order and merged, so the
// exact missing / extra / changed ids are listed and memory stays flat.

const LIST_CAP = 100;
const BATCH = 5000;

export interface TableValidation {
  source_count: number;
  target_count: number;
  /** md5 of the ids joined with ',' in id order (same as md5(string_agg(id::text, ',' order by id))). */
  source_ids_md5: string;
  target_ids_md5: string;
  missing_in_target: number;
  missing_ids: string[];
  /** rows only offbase has (created there, or by another import): reported, not a failure. */
  extra_in_target: number;
  extra_ids: string[];
  /** documents: rows whose content columns differ. */
  content_mismatches?: number;
  content_mismatch_ids?: string[];
  /** documents: rows whose analysis_count does not equal their analyses. */
  analysis_count_mismatches?: number;
  ok: boolean;
}

interface Row {
  id: string;
  h?: string;
}

async function* stream(sql: Sql, query: string, params: unknown[]): AsyncGenerator<Row> {
  for await (const batch of sql.unsafe<Row[]>(query, params as never[]).cursor(BATCH)) yield* batch;
}

function compare(a: string, b: string, bigint: boolean): number {
  if (bigint) {
    const x = BigInt(a);
    const y = BigInt(b);
    return x < y ? -1 : x > y ? 1 : 0;
  }
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Columns compared for content: everything mapped except updated_at (moved by triggers) and transformed columns (changed on purpose). */
function contentColumns(ctx: DataContext, table: string) {
  const plan = ctx.plans[table]!;
  return plan.mapped.filter((c) => c.target !== 'updated_at' && !plan.transforms[c.target]);
}

export async function validateTable(ctx: DataContext | null, table: string, source: Sql, target: Sql, skippedUserIds: string[]): Promise<TableValidation> {
  const generated = table === 'users' ? null : (ctx?.plans[table]?.generatedId ?? null);
  // Generated ids: rows are matched by the source id kept in offbase (supabase_id), as text.
  const bigint = table !== 'users' && /^(bigint|integer|smallint)$/.test(tableSpec(ctx!, table).idType) && !generated;
  const withContent = table === 'documents' && ctx !== null;
  let srcQuery: string;
  if (table === 'users') {
    srcQuery = `select id::text as id from auth.users where id <> all($1::uuid[]) order by id`;
  } else {
    const plan = ctx!.plans[table]!;
    const idType = tableSpec(ctx!, table).idType;
    const [schema, name] = plan.sourceTable.split('.') as [string, string];
    const idSource = `t.${ident(plan.mapped.find((c) => c.target === 'id')!.source)}`;
    const idExpr = generated ? `${idSource}::text collate "C"` : `(${idSource})::${idType}`;
    const hash = withContent
      ? `, md5(json_build_array(${contentColumns(ctx!, table)
          .map((c) => `(t.${ident(c.source)})::${c.targetType}`)
          .join(', ')})::text) as h`
      : '';
    srcQuery = `select ${idExpr}::text as id${hash} from ${ident(schema)}.${ident(name)} t where ${eligibleWhere(ctx!, table)} order by ${idExpr}`;
  }
  const tgtHash = withContent ? `, md5(json_build_array(${contentColumns(ctx!, 'documents').map((c) => `t.${ident(c.target)}`).join(', ')})::text) as h` : '';
  const kept = generated ? `(t.${ident(generated.sourceIdInto)} ->> 'supabase_id')` : null;
  const tgtQuery = kept
    ? `select ${kept} as id${tgtHash} from ${ident(table)} t where ${kept} is not null order by ${kept} collate "C"`
    : `select t.id::text as id${tgtHash} from ${ident(table)} t order by t.id`;

  const v: TableValidation = {
    source_count: 0,
    target_count: 0,
    source_ids_md5: '',
    target_ids_md5: '',
    missing_in_target: 0,
    missing_ids: [],
    extra_in_target: 0,
    extra_ids: [],
    ...(withContent ? { content_mismatches: 0, content_mismatch_ids: [] } : {}),
    ok: true,
  };
  const srcMd5 = createHash('md5');
  const tgtMd5 = createHash('md5');
  const s = stream(source, srcQuery, withSkipped(srcQuery, skippedUserIds));
  const t = stream(target, tgtQuery, []);
  let a = await s.next();
  let b = await t.next();
  const seeSource = (r: Row) => srcMd5.update(v.source_count++ === 0 ? r.id : `,${r.id}`);
  const seeTarget = (r: Row) => tgtMd5.update(v.target_count++ === 0 ? r.id : `,${r.id}`);
  while (!a.done || !b.done) {
    const c = a.done ? 1 : b.done ? -1 : compare(a.value.id, b.value.id, bigint);
    if (c < 0) {
      seeSource(a.value);
      if (v.missing_in_target++ < LIST_CAP) v.missing_ids.push(a.value.id);
      a = await s.next();
    } else if (c > 0) {
      seeTarget(b.value);
      if (v.extra_in_target++ < LIST_CAP) v.extra_ids.push(b.value.id);
      b = await t.next();
    } else {
      seeSource(a.value);
      seeTarget(b.value);
      if (withContent && a.value.h !== b.value.h && v.content_mismatches!++ < LIST_CAP) v.content_mismatch_ids!.push(a.value.id);
      a = await s.next();
      b = await t.next();
    }
  }
  v.source_ids_md5 = srcMd5.digest('hex');
  v.target_ids_md5 = tgtMd5.digest('hex');
  if (table === 'documents') {
    const [r] = await target<{ n: number }[]>`
      select count(*)::int as n from documents d
      where d.analysis_count <> (select count(*) from analyses a where a.document_id = d.id)`;
    v.analysis_count_mismatches = r!.n;
  }
  v.ok = v.missing_in_target === 0 && !v.content_mismatches && !v.analysis_count_mismatches;
  return v;
}
