import type { Sql } from 'postgres';
import type { UsersMapping } from './mapping.js';
import type { Progress } from './progress.js';
import { assertAllRowsVisible, ident, ImportError, tableColumns } from './source.js';
import {
  chooseTwin,
  mapUser,
  USER_COLUMN_MAP,
  USER_OPTIONAL_COLUMNS,
  USER_SOURCE_COLUMNS,
  type OffbaseUserRow,
  type SupabaseUser,
  type TwinCandidate,
  type UserNote,
  type UserSkipReason,
} from './users.js';
import { writeBatch, type WriteStrategy } from './writer.js';

// One streamed pass over auth.users: map, classify, and (with --apply) write each batch.
// The ids of users that do not come across are collected so the data tables can skip
// (and count) the rows they own.

const LIST_CAP = 1000;

export type AccountKind = UserSkipReason | UserNote;

/** What each kind of account means for its owner, in the plan. */
export const ACCOUNT_KINDS: Record<AccountKind, { imported: boolean; note: string }> = {
  deleted: { imported: false, note: 'soft-deleted in Supabase (obfuscated address, no password)' },
  anonymous: { imported: false, note: 'anonymous sign-ins: no address to sign in with' },
  phone_only: { imported: false, note: 'phone-only customers: offbase signs in by email, these cannot be imported yet' },
  no_email: { imported: false, note: 'neither an email nor a phone' },
  invalid_email: { imported: false, note: 'an address offbase login cannot accept: unusable, fix it in Supabase' },
  email_collision: { imported: false, note: 'another account keeps the address (see the collisions)' },
  email_taken_in_target: { imported: false, note: 'offbase already has a different user with this address' },
  sso_only: { imported: true, note: 'SSO-only: no password; offbase has no SSO, they sign in after a password reset' },
  oauth_only: { imported: true, note: 'OAuth-only (Google, GitHub, ...): no password; they sign in after a password reset' },
  magic_link_or_invited: { imported: true, note: 'magic-link or invited, never set a password: they sign in after a password reset' },
  unusable_hash: { imported: true, note: 'a password hash offbase cannot verify (kept out): they sign in after a password reset' },
  firebase_needs_reset: { imported: true, note: 'Firebase scrypt hash without the project hash parameters (mapping file users.firebase_scrypt): needs reset' },
  unconfirmed: { imported: true, note: 'email never confirmed' },
  banned: { imported: true, note: 'banned: imported disabled' },
  mfa: { imported: true, note: 'verified MFA factors: TOTP factors come across; others (phone, WebAuthn, encrypted secrets) need --allow-mfa-downgrade' },
  role_unmapped: { imported: true, note: "profile role is neither 'user' nor 'admin' (map it with users.profile.transforms.role): imported as user" },
};

export interface AccountList {
  count: number;
  imported: boolean;
  note: string;
  users: { id: string; email: string | null; phone?: string | null }[];
}

export interface UsersPlan {
  source_table: 'auth.users';
  source_rows: number;
  columns: typeof USER_COLUMN_MAP;
  dropped: string[];
  will_import: number;
  skipped: Partial<Record<UserSkipReason, number>>;
  skipped_users: { id: string; email: string | null; reason: UserSkipReason }[];
  /** every kind of account that is skipped or lacks something, with a capped list. */
  accounts: Partial<Record<AccountKind, AccountList>>;
  without_password: { count: number; note: string; users: { id: string; email: string }[] };
  unrecognized_hash: { count: number; users: { id: string; email: string }[] };
  banned: number;
  admins: number;
  email_collisions: { email: string; ids: string[]; kept: string; why: string }[];
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

export interface UsersSource {
  /** auth.users columns not imported. */
  dropped: string[];
  optional: Set<string>;
  identities: boolean;
  mfaFactors: boolean;
}

const hasTable = async (sql: Sql, schema: string, table: string) => (await tableColumns(sql, schema, table)).length > 0;

export async function checkUsersSource(source: Sql, mapping: UsersMapping = {}): Promise<UsersSource> {
  const [auth] = await source<{ ok: boolean }[]>`select exists (select 1 from pg_namespace where nspname = 'auth') as ok`;
  if (!auth!.ok) throw new ImportError('the source has no auth schema: is it a Supabase database?');
  const cols = await tableColumns(source, 'auth', 'users');
  if (cols.length === 0) throw new ImportError('the source has no table auth.users');
  const names = new Set(cols.map((c) => c.name));
  const missing = USER_SOURCE_COLUMNS.filter((c) => !names.has(c));
  if (missing.length) throw new ImportError(`auth.users lacks column(s) ${missing.join(', ')}`);
  // GoTrue enables RLS on every auth table: a role without BYPASSRLS would read none of them.
  await assertAllRowsVisible(source, 'auth', 'users');
  const identities = await hasTable(source, 'auth', 'identities');
  const mfaFactors = await hasTable(source, 'auth', 'mfa_factors');
  if (identities) await assertAllRowsVisible(source, 'auth', 'identities');
  if (mfaFactors) await assertAllRowsVisible(source, 'auth', 'mfa_factors');
  if (mapping.profile) {
    const [schema, name] = mapping.profile.table.split('.') as [string, string];
    const pcols = new Set((await tableColumns(source, schema, name)).map((c) => c.name));
    if (pcols.size === 0) throw new ImportError(`the source has no table ${mapping.profile.table} (users.profile in the mapping file)`);
    for (const c of [mapping.profile.id ?? 'id', ...Object.keys(mapping.profile.columns)]) {
      if (!pcols.has(c)) throw new ImportError(`users.profile: ${mapping.profile.table} has no column ${c}`);
    }
    await assertAllRowsVisible(source, schema, name);
  }
  const known = new Set<string>([...USER_SOURCE_COLUMNS]);
  return {
    dropped: cols.map((c) => c.name).filter((c) => !known.has(c)),
    optional: new Set(USER_OPTIONAL_COLUMNS.filter((c) => names.has(c))),
    identities,
    mfaFactors,
  };
}

/** The streamed SELECT: auth.users with its identities' providers, verified factors and profile. */
function usersQuery(src: UsersSource, mapping: UsersMapping): string {
  const cols = USER_SOURCE_COLUMNS.map((c) => `u.${ident(c)}`);
  for (const c of USER_OPTIONAL_COLUMNS) cols.push(src.optional.has(c) ? `u.${ident(c)}` : `null as ${ident(c)}`);
  cols.push(
    src.identities
      ? `(select json_agg(distinct i.provider) from auth.identities i where i.user_id = u.id) as providers`
      : 'null::json as providers',
  );
  cols.push(src.mfaFactors ? `(select count(*) from auth.mfa_factors f where f.user_id = u.id and f.status::text = 'verified')::int as mfa_factors` : '0 as mfa_factors');
  let join = '';
  if (mapping.profile) {
    const [schema, name] = mapping.profile.table.split('.') as [string, string];
    const pairs = Object.entries(mapping.profile.columns).map(([from, to]) => `'${to}', p.${ident(from)}`);
    // At most one profile per user, even when the table's id is not unique.
    cols.push('p.profile');
    join = ` left join lateral (select json_build_object(${pairs.join(', ')}) as profile from ${ident(schema)}.${ident(name)} p
      where p.${ident(mapping.profile.id ?? 'id')} = u.id limit 1) p on true`;
  }
  return `select row_to_json(x)::text as j from (select ${cols.join(', ')} from auth.users u${join}) x order by x.id`;
}

export async function usersPass(opts: {
  source: Sql;
  target: Sql;
  apply: boolean;
  batchSize: number;
  strategy: WriteStrategy;
  progress: Progress;
  update?: boolean;
  mapping?: UsersMapping;
}): Promise<{ plan: UsersPlan; result: UsersResult | null; skippedIds: string[] }> {
  const { source, target, apply, batchSize, progress } = opts;
  const mapping = opts.mapping ?? {};
  const src = await checkUsersSource(source, mapping);
  const now = new Date();

  // Several accounts may share an address case-insensitively (GoTrue's uniqueness is partial:
  // an SSO account may share a password account's address). One keeps it, by a rule that
  // keeps people able to sign in (chooseTwin); the others are reported and skipped, never merged.
  const collisions = await source<{ email: string; candidates: TwinCandidate[] }[]>`
    select lower(btrim(email)) as email,
      json_agg(json_build_object('id', id, 'has_password', coalesce(encrypted_password, '') like '$%',
        'last_sign_in_at', last_sign_in_at, 'created_at', created_at) order by created_at nulls last, id) as candidates
    from auth.users where deleted_at is null and coalesce(btrim(email), '') <> ''
    group by 1 having count(*) > 1 order by 1`;
  const losers = new Set<string>();
  const email_collisions = collisions.map((c) => {
    const { kept, why } = chooseTwin(c.email, c.candidates, mapping.keep);
    for (const x of c.candidates) if (x.id !== kept) losers.add(x.id);
    return { email: c.email, ids: c.candidates.map((x) => x.id), kept, why };
  });
  const [{ n: total } = { n: 0 }] = await source<{ n: number }[]>`select count(*)::int as n from auth.users`;

  const plan: UsersPlan = {
    source_table: 'auth.users',
    source_rows: total,
    columns: USER_COLUMN_MAP,
    dropped: src.dropped,
    will_import: 0,
    skipped: {},
    skipped_users: [],
    accounts: {},
    without_password: { count: 0, note: 'imported without a password: they sign in after a password reset', users: [] },
    unrecognized_hash: { count: 0, users: [] },
    banned: 0,
    admins: 0,
    email_collisions,
    conflicts: { already_in_target: 0 },
  };
  const account = (kind: AccountKind, u: { id: string; email: string | null; phone?: string | null }) => {
    const list = (plan.accounts[kind] ??= { count: 0, ...ACCOUNT_KINDS[kind], users: [] });
    list.count++;
    if (list.users.length < LIST_CAP) list.users.push(u.phone ? u : { id: u.id, email: u.email });
  };
  const skippedIds: string[] = [];
  const skip = (u: { id: string; email: string | null; phone?: string | null }, reason: UserSkipReason) => {
    plan.skipped[reason] = (plan.skipped[reason] ?? 0) + 1;
    skippedIds.push(u.id);
    // A soft-deleted user's address is a hash GoTrue made: listing it would only be noise.
    const shown = reason === 'deleted' ? { id: u.id, email: null } : u;
    if (plan.skipped_users.length < LIST_CAP) plan.skipped_users.push({ id: u.id, email: shown.email, reason });
    account(reason, shown);
  };
  const result: UsersResult = { read: 0, inserted: 0, updated: 0, already_present: 0, rejected: [], skipped: 0, seconds: 0, rows_per_s: 0 };
  const started = Date.now();

  progress.start('users', total);
  const cursor = source.unsafe<{ j: string }[]>(usersQuery(src, mapping)).cursor(batchSize);
  for await (const batch of cursor) {
    const rows: OffbaseUserRow[] = [];
    for (const { j } of batch) {
      const u = JSON.parse(j) as SupabaseUser;
      const who = { id: u.id, email: u.email, phone: u.phone ?? null };
      const mapped = mapUser(u, now, mapping);
      if (!mapped.ok) skip(who, mapped.reason);
      else if (losers.has(u.id)) skip(who, 'email_collision');
      else {
        rows.push(mapped.row);
        const listed = { id: u.id, email: mapped.row.email };
        for (const note of mapped.notes) {
          account(note, listed);
          if (note === 'banned') plan.banned++;
          else if (note === 'unusable_hash' || note === 'firebase_needs_reset') {
            plan.unrecognized_hash.count++;
            if (plan.unrecognized_hash.users.length < LIST_CAP) plan.unrecognized_hash.users.push(listed);
          } else if (note === 'sso_only' || note === 'oauth_only' || note === 'magic_link_or_invited') {
            plan.without_password.count++;
            if (plan.without_password.users.length < LIST_CAP) plan.without_password.users.push(listed);
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
      if (owner !== undefined && owner !== r.id) skip({ id: r.id, email: r.email }, 'email_taken_in_target');
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
