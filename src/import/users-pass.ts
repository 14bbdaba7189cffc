import type { Sql } from 'postgres';
import type { Progress } from './progress.js';
import { ident, ImportError, tableColumns } from './source.js';
import { mapUser, USER_COLUMN_MAP, USER_SOURCE_COLUMNS, type OffbaseUserRow, type SupabaseUser, type UserSkipReason } from './users.js';
import { writeBatch, type WriteStrategy } from './writer.js';

// One streamed pass over auth.users: map, classify, and (with --apply) write each batch.
// The ids of users that do not come across are collected so the data tables can skip
// (and count) the rows they own.

const LIST_CAP = 1000;

export interface UsersPlan {
  source_table: 'auth.users';
  source_rows: number;
  columns: typeof USER_COLUMN_MAP;
  dropped: string[];
  will_import: number;
  skipped: Partial<Record<UserSkipReason, number>>;
  skipped_users: { id: string; email: string | null; reason: UserSkipReason }[];
  without_password: { count: number; note: string; users: { id: string; email: string }[] };
  unrecognized_hash: { count: number; users: { id: string; email: string }[] };
  banned: number;
  admins: number;
  email_collisions: { email: string; ids: string[]; kept: string }[];
  conflicts: { already_in_target: number };
}

export interface UsersResult {
  read: number;
  inserted: number;
  updated: number;
  already_present: number;
  /** users offbase refused (a constraint), with why. */
  rejected: { id: string; error: string }[];
  skipped: number;
  seconds: number;
  rows_per_s: number;
}

export async function checkUsersSource(source: Sql): Promise<string[]> {
  const [auth] = await source<{ ok: boolean }[]>`select exists (select 1 from pg_namespace where nspname = 'auth') as ok`;
  if (!auth!.ok) throw new ImportError('the source has no auth schema: is it a Supabase database?');
  const cols = await tableColumns(source, 'auth', 'users');
  if (cols.length === 0) throw new ImportError('the source has no table auth.users');
  const names = new Set(cols.map((c) => c.name));
  const missing = USER_SOURCE_COLUMNS.filter((c) => !names.has(c));
  if (missing.length) throw new ImportError(`auth.users lacks column(s) ${missing.join(', ')}`);
  return cols.map((c) => c.name).filter((c) => !(USER_SOURCE_COLUMNS as readonly string[]).includes(c));
}

export async function usersPass(opts: {
  source: Sql;
  target: Sql;
  apply: boolean;
  batchSize: number;
  strategy: WriteStrategy;
  progress: Progress;
  update?: boolean;
}): Promise<{ plan: UsersPlan; result: UsersResult | null; skippedIds: string[] }> {
  const { source, target, apply, batchSize, progress } = opts;
  const dropped = await checkUsersSource(source);
  const now = new Date();

  // Case-insensitive duplicates: the oldest account keeps the address, the others are
  // reported and skipped, never merged.
  const collisions = await source<{ email: string; ids: string[] }[]>`
    select lower(btrim(email)) as email, array_agg(id::text order by created_at nulls last, id) as ids
    from auth.users where deleted_at is null and coalesce(btrim(email), '') <> ''
    group by 1 having count(*) > 1 order by 1`;
  const losers = new Set(collisions.flatMap((c) => c.ids.slice(1)));
  const [{ n: total } = { n: 0 }] = await source<{ n: number }[]>`select count(*)::int as n from auth.users`;

  const plan: UsersPlan = {
    source_table: 'auth.users',
    source_rows: total,
    columns: USER_COLUMN_MAP,
    dropped,
    will_import: 0,
    skipped: {},
    skipped_users: [],
    without_password: { count: 0, note: 'imported without a password: they sign in after a password reset', users: [] },
    unrecognized_hash: { count: 0, users: [] },
    banned: 0,
    admins: 0,
    email_collisions: collisions.map((c) => ({ email: c.email, ids: c.ids, kept: c.ids[0]! })),
    conflicts: { already_in_target: 0 },
  };
  const skippedIds: string[] = [];
  const skip = (id: string, email: string | null, reason: UserSkipReason) => {
    plan.skipped[reason] = (plan.skipped[reason] ?? 0) + 1;
    skippedIds.push(id);
    if (plan.skipped_users.length < LIST_CAP) plan.skipped_users.push({ id, email, reason });
  };
  const result: UsersResult = { read: 0, inserted: 0, updated: 0, already_present: 0, rejected: [], skipped: 0, seconds: 0, rows_per_s: 0 };
  const started = Date.now();
  const cols = USER_SOURCE_COLUMNS.map(ident).join(', ');

  progress.start('users', total);
  const cursor = source.unsafe<{ j: string }[]>(`select row_to_json(u)::text as j from (select ${cols} from auth.users) u order by u.id`).cursor(batchSize);
  for await (const batch of cursor) {
    const rows: OffbaseUserRow[] = [];
    for (const { j } of batch) {
      const u = JSON.parse(j) as SupabaseUser;
      const mapped = mapUser(u, now);
      if (!mapped.ok) skip(u.id, u.email, mapped.reason);
      else if (losers.has(u.id)) skip(u.id, u.email, 'email_collision');
      else {
        rows.push(mapped.row);
        for (const note of mapped.notes) {
          if (note === 'banned') plan.banned++;
          else {
            const list = note === 'no_password' ? plan.without_password : plan.unrecognized_hash;
            list.count++;
            if (list.users.length < LIST_CAP) list.users.push({ id: u.id, email: mapped.row.email });
          }
        }
        if (mapped.row.role === 'admin') plan.admins++;
      }
    }
    // An address already used in offbase by another id cannot be imported without merging.
    const existing = rows.length
      ? await target<{ id: string; email: string }[]>`
          select id::text, lower(email) as email from users
          where id = any(${rows.map((r) => r.id)}::uuid[]) or lower(email) = any(${rows.map((r) => r.email)}::text[])`
      : [];
    const idTaken = new Set(existing.map((e) => e.id));
    const emailOwner = new Map(existing.map((e) => [e.email, e.id]));
    const writable: OffbaseUserRow[] = [];
    for (const r of rows) {
      const owner = emailOwner.get(r.email);
      if (idTaken.has(r.id)) plan.conflicts.already_in_target++;
      if (owner !== undefined && owner !== r.id) skip(r.id, r.email, 'email_taken_in_target');
      else writable.push(r);
    }
    plan.will_import += writable.length;
    result.read += batch.length;
    if (apply && writable.length) {
      const spec = { table: 'users' as const, columns: Object.keys(writable[0]!), parents: {}, update: opts.update ?? false };
      const r = await writeBatch(target, spec, writable.map((w) => JSON.stringify(w)), opts.strategy);
      result.inserted += r.inserted;
      result.updated += r.updated;
      result.already_present += r.eligible - r.inserted - r.updated - (r.rejected?.length ?? 0);
      result.rejected.push(...(r.rejected ?? []));
    }
    progress.tick(batch.length);
  }
  progress.stop();
  result.skipped = skippedIds.length;
  result.seconds = (Date.now() - started) / 1000;
  result.rows_per_s = result.seconds > 0 ? Math.round(result.read / result.seconds) : 0;
  return { plan, result: apply ? result : null, skippedIds };
}
