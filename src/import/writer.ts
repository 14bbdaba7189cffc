import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Sql, TransactionSql } from 'postgres';
import { ident } from './source.js';

// Writes one batch of rows (JSON text, offbase column names) in the caller's transaction.
// Insert-only: ON CONFLICT (id) DO NOTHING makes a second run a no-op and a stopped run resumable,
// and never overwrites a row that was changed in offbase after it was imported.

export type WriteStrategy = 'insert' | 'copy';

export interface BatchResult {
  total: number;
  /** rows whose parents (owner, document) exist in offbase. */
  eligible: number;
  inserted: number;
  /** rows refreshed from a newer source version (--update). */
  updated: number;
  /** rows offbase refused (a check constraint, a value of the wrong type...), with why. */
  rejected?: { id: string; error: string }[];
}

export interface WriteSpec {
  table: string;
  columns: string[];
  /** offbase column → parent table that must hold the referenced id. */
  parents: Record<string, string>;
  /** statements run in the batch's transaction before and after the insert. */
  around?: { before: string[]; after: string[] };
  /**
   * --update: a row that exists is refreshed when the source's updated_at is newer than
   * offbase's. The refresh moves offbase's updated_at to now (trigger), so a rerun is a no-op,
   * and a row edited in offbase after the import (newer updated_at) is never overwritten.
   */
  update?: boolean;
  /**
   * offbase generates the ids: the row's source id ("__source_id") is kept under supabase_id in
   * this jsonb column, and a row is already present when offbase holds that supabase_id.
   */
  sourceIdInto?: string;
  /** columns whose source text is JSON to store as json/jsonb. */
  parseJson?: string[];
}

const STAGE = 'offbase_import_stage';

// Rows of these tables that no import may touch or hang rows under: a deleted account's
// tombstone stays deleted (no re-imported email, no documents under it).
const FROZEN_ROWS: Partial<Record<string, string>> = { users: 'deleted_at is not null' };
const notFrozen = (table: string, alias: string) => (FROZEN_ROWS[table] ? ` and not (${alias}.${FROZEN_ROWS[table]})` : '');

function insertFrom(spec: WriteSpec, src: string): string {
  const cols = spec.columns.map(ident).join(', ');
  const checks = Object.entries(spec.parents).map(([col, parent]) => `exists (select 1 from ${ident(parent)} p where p.id = src.${ident(col)}${notFrozen(parent, 'p')})`);
  // Generated ids cannot conflict: a row is already present when offbase holds its supabase_id.
  const fresh = spec.sourceIdInto
    ? `where not exists (select 1 from ${ident(spec.table)} d where d.${ident(spec.sourceIdInto)} ->> 'supabase_id' = ok.${ident(spec.sourceIdInto)} ->> 'supabase_id')`
    : '';
  return `with src as (${src}),
    ok as (select * from src where ${checks.length ? checks.join(' and ') : 'true'}),
    ins as (insert into ${ident(spec.table)} as t (${cols}) select ${cols} from ok ${fresh} ${onConflict(spec)} returning (xmax = 0) as fresh)
    select (select count(*) from src)::int as total, (select count(*) from ok)::int as eligible,
      (select count(*) from ins where fresh)::int as inserted, (select count(*) from ins where not fresh)::int as updated`;
}

function onConflict(spec: WriteSpec): string {
  // Only an id already present is a no-op: any other unique violation is a refused row, with its reason.
  if (!spec.update || !spec.columns.includes('updated_at')) return 'on conflict (id) do nothing';
  const set = spec.columns.filter((c) => c !== 'id').map((c) => `${ident(c)} = excluded.${ident(c)}`);
  return `on conflict (id) do update set ${set.join(', ')} where t.updated_at < excluded.updated_at${notFrozen(spec.table, 't')}`;
}

/** The typed rows from JSON (alias e, column j): offbase's row type, text made JSON where asked. */
function typedRows(spec: WriteSpec, from: string): string {
  const value = (c: string) => (spec.parseJson?.includes(c) ? `(e.j ->> ${quote(c)})::jsonb` : `r.${ident(c)}`);
  const cols = spec.columns.map((c) => {
    if (c !== spec.sourceIdInto) return `${value(c)} as ${ident(c)}`;
    // An object gets supabase_id added; anything else is kept under "value" beside it.
    const v = `to_jsonb(${value(c)})`;
    return `(case when jsonb_typeof(${v}) = 'object' then ${v} when ${v} is null or jsonb_typeof(${v}) = 'null' then '{}'::jsonb
      else jsonb_build_object('value', ${v}) end || jsonb_build_object('supabase_id', e.j ->> '__source_id')) as ${ident(c)}`;
  });
  return `select ${cols.join(', ')} from ${from}, json_populate_record(null::${ident(spec.table)}, e.j) r`;
}
const quote = (v: string) => `'${v.replace(/'/g, "''")}'`;

/** Multi-row INSERT from one json parameter: one round trip, PostgreSQL does the parsing. */
async function writeInsert(tx: TransactionSql, spec: WriteSpec, rows: string[]): Promise<BatchResult> {
  const src = typedRows(spec, 'json_array_elements($1::text::json) e(j)');
  const [r] = await tx.unsafe<BatchResult[]>(insertFrom(spec, src), [`[${rows.join(',')}]`]);
  return r!;
}

/** COPY into a temporary staging table, then INSERT ... SELECT ... ON CONFLICT. */
async function writeCopy(tx: TransactionSql, spec: WriteSpec, rows: string[]): Promise<BatchResult> {
  await tx.unsafe(`create temp table if not exists ${STAGE} (j json) on commit delete rows`);
  const writable = await tx.unsafe(`copy ${STAGE} (j) from stdin`).writable();
  // COPY text format: backslash is the escape character; JSON text has no raw newlines or tabs.
  async function* lines() {
    for (const row of rows) yield `${row.replace(/\\/g, '\\\\')}\n`;
  }
  await pipeline(lines(), writable as unknown as Writable);
  const src = typedRows(spec, `${STAGE} e`);
  const [r] = await tx.unsafe<BatchResult[]>(insertFrom(spec, src));
  return r!;
}

// Data exceptions (22xxx) and integrity violations (23xxx) belong to single rows.
const rowError = (err: unknown) => /^2[23]/.test((err as { code?: string }).code ?? '');

export async function writeBatch(target: Sql, spec: WriteSpec, rows: string[], strategy: WriteStrategy): Promise<BatchResult> {
  const inTx = (write: (tx: TransactionSql) => Promise<BatchResult>) =>
    target.begin(async (tx) => {
      for (const q of spec.around?.before ?? []) await tx.unsafe(q);
      const r = await write(tx);
      for (const q of spec.around?.after ?? []) await tx.unsafe(q);
      return r;
    }) as Promise<BatchResult>;
  try {
    return await inTx((tx) => (strategy === 'copy' ? writeCopy(tx, spec, rows) : writeInsert(tx, spec, rows)));
  } catch (err) {
    if (!rowError(err)) throw err;
  }
  // A row the constraint check could not foresee (a unique index, a trigger...): split the batch
  // in halves under savepoints until the refused rows are isolated. The good rows still go in
  // as multi-row statements, and the cost is a few statements per refused row, not one per row.
  return inTx((tx) => writeSplit(tx, spec, rows));
}

async function writeSplit(tx: TransactionSql, spec: WriteSpec, rows: string[]): Promise<BatchResult> {
  try {
    return (await tx.savepoint((sp) => writeInsert(sp as unknown as TransactionSql, spec, rows))) as BatchResult;
  } catch (err) {
    if (!rowError(err)) throw err;
    if (rows.length === 1) {
      const row = JSON.parse(rows[0]!) as { id?: unknown; __source_id?: unknown };
      return { total: 1, eligible: 1, inserted: 0, updated: 0, rejected: [{ id: String(row.__source_id ?? row.id), error: (err as Error).message }] };
    }
  }
  const half = rows.length >> 1;
  const a = await writeSplit(tx, spec, rows.slice(0, half));
  const b = await writeSplit(tx, spec, rows.slice(half));
  return {
    total: a.total + b.total,
    eligible: a.eligible + b.eligible,
    inserted: a.inserted + b.inserted,
    updated: a.updated + b.updated,
    rejected: [...(a.rejected ?? []), ...(b.rejected ?? [])],
  };
}

/**
 * Inserting analyses bumps their documents' analysis_count (a trigger), and that UPDATE moves
 * documents.updated_at to the import time. When the importer owns the table it switches the
 * updated_at trigger off inside each analyses batch (transactional DDL: a failed batch rolls
 * it back) so documents keep their Supabase updated_at; otherwise they get the import time.
 */
export async function keepDocumentsUpdatedAt(target: Sql): Promise<WriteSpec['around'] | null> {
  const [r] = await target<{ owner: boolean }[]>`
    select pg_has_role(current_user, c.relowner, 'USAGE') as owner from pg_class c where c.oid = 'public.documents'::regclass`;
  if (!r?.owner) return null;
  return {
    before: ['alter table documents disable trigger documents_set_updated_at'],
    after: ['alter table documents enable trigger documents_set_updated_at'],
  };
}

/** After ids were inserted explicitly, move the identity past them so new rows do not collide. */
export async function syncIdentity(target: Sql, table: string): Promise<void> {
  await target.unsafe(
    `select setval(pg_get_serial_sequence('${table}', 'id'), m) from (select max(id) as m from ${ident(table)}) x where m is not null`,
  );
}
