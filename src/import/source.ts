import postgres, { type Sql } from 'postgres';

// Connections for the importer. The source is a production Supabase database: it is opened
// read-only at the session level, so no statement the importer sends can change it.

export class ImportError extends Error {
  override name = 'ImportError';
}

/** The URL with its password replaced, safe for any output. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '<invalid url>';
  }
}

/** Removes every occurrence of the secret (raw and URL-encoded) from a message. */
export function redactSecret(message: string, secrets: string[]): string {
  let out = message;
  for (const s of secrets) {
    if (!s) continue;
    for (const form of new Set([s, encodeURIComponent(s)])) out = out.split(form).join('***');
  }
  return out;
}

export function userOf(url: string): string {
  try {
    return decodeURIComponent(new URL(url).username) || 'the source role';
  } catch {
    return 'the source role';
  }
}

export function passwordOf(url: string): string {
  try {
    return decodeURIComponent(new URL(url).password);
  } catch {
    return '';
  }
}

// Timestamps travel as text, and json renders them in the session time zone: pin it to UTC on
// both sides so checksums over JSON text compare equal.
const common = { onnotice: () => {}, max: 1, idle_timeout: 30, connect_timeout: 10, prepare: false } as const;

export function openSource(url: string): Sql {
  if (!/^postgres(ql)?:\/\//.test(url)) throw new ImportError('--source must be a postgres:// URL');
  return postgres(url, {
    ...common,
    // row_security=off: should row level security still filter a query (a policy the checks
    // below did not foresee), PostgreSQL raises an error instead of silently returning fewer rows.
    connection: { application_name: 'offbase-import', default_transaction_read_only: true, TimeZone: 'UTC', statement_timeout: 0, row_security: 'off' },
  });
}

/** The target; read-only as well during a dry run, so "writes nothing" is enforced by PostgreSQL. */
export function openTarget(url: string, readOnly: boolean): Sql {
  return postgres(url, {
    ...common,
    connection: {
      application_name: 'offbase-import',
      TimeZone: 'UTC',
      statement_timeout: 0,
      ...(readOnly ? { default_transaction_read_only: true } : {}),
    },
  });
}

export interface ColumnInfo {
  name: string;
  /** format_type(): e.g. "text[]", "timestamp with time zone". */
  type: string;
  notNull: boolean;
  hasDefault: boolean;
  generated: boolean;
}

/** Columns of schema.table in ordinal order; an empty list when the table does not exist. */
export async function tableColumns(sql: Sql, schema: string, table: string): Promise<ColumnInfo[]> {
  const rows = await sql<{ name: string; type: string; not_null: boolean; has_default: boolean; generated: boolean }[]>`
    select a.attname as name, format_type(a.atttypid, a.atttypmod) as type, a.attnotnull as not_null,
           (a.atthasdef or a.attidentity <> '') as has_default, a.attgenerated <> '' as generated
    from pg_attribute a
    join pg_class c on c.oid = a.attrelid
    join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = ${schema} and c.relname = ${table} and a.attnum > 0 and not a.attisdropped
    order by a.attnum`;
  return rows.map((r) => ({ name: r.name, type: r.type, notNull: r.not_null, hasDefault: r.has_default, generated: r.generated }));
}

/** The one-line refusal for a table whose rows RLS hides from the source role. */
export const rlsHides = (table: string, role: string) =>
  `row level security on ${table} hides rows from ${role}: connect as a role with BYPASSRLS (postgres on Supabase) or as the table owner, or run ALTER ROLE ${role} BYPASSRLS`;

/**
 * Refuses a source table whose rows row level security would hide from the connected role
 * (RLS enabled, and the role is neither superuser, BYPASSRLS, nor the owner of an unforced
 * table): the import would otherwise read a part of it and call it the whole.
 */
export async function assertAllRowsVisible(sql: Sql, schema: string, table: string): Promise<void> {
  const [r] = await sql<{ hidden: boolean; role: string }[]>`
    select c.relrowsecurity and not r.rolsuper and not r.rolbypassrls
             and (c.relforcerowsecurity or not pg_has_role(current_user, c.relowner, 'USAGE')) as hidden, current_user as role
    from pg_class c join pg_namespace n on n.oid = c.relnamespace, pg_roles r
    where n.nspname = ${schema} and c.relname = ${table} and r.rolname = current_user`;
  if (r?.hidden) throw new ImportError(rlsHides(`${schema}.${table}`, r.role));
}

export const ident = (name: string) => `"${name.replace(/"/g, '""')}"`;

/** One line for a connection or query failure, with the secret removed. */
export function describeDbError(err: unknown, what: string, secrets: string[], role = 'the source role'): string {
  const e = err as { code?: string; message?: string };
  const reason =
    e.code === 'ECONNREFUSED'
      ? 'connection refused'
      : e.code === 'ENOTFOUND'
        ? 'host not found'
        : e.code === '28P01'
          ? 'password authentication failed'
          : e.code === '3D000'
            ? 'database does not exist'
            : (e.message ?? String(err));
  // row_security=off turned a filtered read into this error (see openSource).
  const rls = e.code === '42501' ? /row-level security policy for table "([^"]+)"/.exec(e.message ?? '') : null;
  if (rls) return redactSecret(rlsHides(`table ${rls[1]!}`, role), secrets);
  return redactSecret(`${what}: ${reason}`, secrets);
}
