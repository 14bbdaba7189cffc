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
    connection: { application_name: 'offbase-import', default_transaction_read_only: true, TimeZone: 'UTC', statement_timeout: 0 },
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

export const ident = (name: string) => `"${name.replace(/"/g, '""')}"`;

/** One line for a connection or query failure, with the secret removed. */
export function describeDbError(err: unknown, what: string, secrets: string[]): string {
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
  return redactSecret(`${what}: ${reason}`, secrets);
}
