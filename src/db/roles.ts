import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import type postgres from 'postgres';

// Two database roles besides the administrator (on RDS the master user, which is no superuser):
//   migrate role: owns the schema; only migrations connect as it.
//   app role:     what the API connects as: DML on the app's tables, no DDL, and the audit
//                 log append-only (SELECT and INSERT only).
// `db:bootstrap-roles` (bootstrapRoles) creates them as the administrator; every migration run
// (grantAppRole, as the owner) then grants the app role its rights on every table.

/** Tables the app may read and insert into but never change: the audit trail. */
const APPEND_ONLY_TABLES = ['audit_logs'];

/**
 * Columns the app may insert but never update, by table. users.mfa_enabled is what the session
 * check reads to require a second factor: only the triggers on mfa_factors write it
 * (drizzle/0008; their function runs as the schema's owner since drizzle/0011), so a bug or an
 * injected statement in the API cannot switch a user's MFA off.
 */
const TRIGGER_KEPT_COLUMNS: Record<string, readonly string[]> = { users: ['mfa_enabled'] };

/**
 * Grants `appRole` the app's rights on everything the migrations created. Runs as the owner
 * of the schema after each migration run, so a new table is usable by the app at once. Run it
 * in a transaction: the table-wide grant comes before the revokes that narrow it, and no other
 * session may see the state in between.
 */
export async function grantAppRole(sql: postgres.Sql | postgres.TransactionSql, appRole: string): Promise<void> {
  const app = sql(appRole);
  await sql`grant usage on schema public to ${app}`;
  await sql`grant select, insert, update, delete on all tables in schema public to ${app}`;
  await sql`grant usage, select on all sequences in schema public to ${app}`;
  for (const table of APPEND_ONLY_TABLES) {
    if (await exists(sql, `public.${table}`)) await sql`revoke update, delete, truncate on ${sql(table)} from ${app}`;
  }
  for (const [table, kept] of Object.entries(TRIGGER_KEPT_COLUMNS)) {
    if (!(await exists(sql, `public.${table}`))) continue;
    // Revoking UPDATE on the table revokes it on every column; then every column but the kept
    // ones gets it back, read from the catalog so a column a later migration adds is included.
    const columns = await sql<{ name: string }[]>`
      select column_name as name from information_schema.columns
       where table_schema = 'public' and table_name = ${table} and column_name <> all(${kept as string[]}) order by ordinal_position`;
    await sql`revoke update on ${sql(table)} from ${app}`;
    await sql`grant update (${sql(columns.map((c) => c.name))}) on ${sql(table)} to ${app}`;
  }
  // /health/ready reports the applied migrations.
  if (await exists(sql, 'drizzle.__drizzle_migrations')) {
    await sql`grant usage on schema drizzle to ${app}`;
    await sql`grant select on drizzle.__drizzle_migrations to ${app}`;
  }
}

async function exists(sql: postgres.Sql | postgres.TransactionSql, name: string): Promise<boolean> {
  const [row] = await sql<{ ok: boolean }[]>`select to_regclass(${name}) is not null as ok`;
  return row?.ok ?? false;
}

export interface BootstrapOptions {
  appRole: string;
  migrateRole: string;
  /** Login passwords; omitted with `iam`. */
  appPassword?: string;
  migratePassword?: string;
  /** RDS IAM authentication: grant rds_iam and remove any password. */
  iam?: boolean;
}

export interface BootstrapResult {
  created: string[];
  /** Objects the administrator owned (a database migrated before the roles existed), now the migrate role's. */
  reassigned: number;
}

/**
 * Creates (or updates) the two roles and their database rights. Runs as the administrator:
 * CREATEROLE and ownership of the database are enough, no superuser, so it works on RDS.
 * Idempotent: run it again after changing a password or switching to IAM authentication.
 */
export async function bootstrapRoles(sql: postgres.Sql, opts: BootstrapOptions): Promise<BootstrapResult> {
  if (opts.appRole === opts.migrateRole) throw new Error('the app role and the migrate role must differ');
  const created: string[] = [];
  let reassigned = 0;
  await sql.begin(async (tx) => {
    const [db] = await tx<{ name: string; me: string }[]>`select current_database() as name, current_user as me`;
    const database = tx(db!.name);
    if (opts.iam) {
      const [rdsIam] = await tx`select 1 from pg_roles where rolname = 'rds_iam'`;
      if (!rdsIam) throw new Error('role rds_iam does not exist: --iam works on Amazon RDS only');
    }
    for (const [role, password] of [
      [opts.migrateRole, opts.migratePassword],
      [opts.appRole, opts.appPassword],
    ] as const) {
      if (!opts.iam && !password) throw new Error(`a password for ${role} is required unless --iam is given`);
      const [found] = await tx`select 1 from pg_roles where rolname = ${role}`;
      if (!found) {
        await tx`create role ${tx(role)} login`;
        created.push(role);
      }
      // Only a SCRAM verifier goes over the wire: the plaintext never reaches a server log.
      if (password) await tx.unsafe(`alter role ${quoteIdent(role)} login password '${scramVerifier(password)}'`);
      else await tx`alter role ${tx(role)} login password null`;
      if (opts.iam) await tx`grant rds_iam to ${tx(role)}`;
      await tx`grant connect, temporary on database ${database} to ${tx(role)}`;
    }
    const migrate = tx(opts.migrateRole);
    // Membership lets the administrator hand objects to the role and act as it below.
    await tx`grant ${migrate} to ${tx(db!.me)}`;
    await tx`grant create on database ${database} to ${migrate}`;
    await tx`grant usage, create on schema public to ${migrate}`;
    reassigned = await reassignToMigrateRole(tx, opts.migrateRole);
    await tx`set local role ${migrate}`;
    await grantAppRole(tx, opts.appRole);
  });
  return { created, reassigned };
}

/** The drizzle schema, tables, sequences, views, types and functions the administrator owns. */
async function reassignToMigrateRole(tx: postgres.TransactionSql, migrateRole: string): Promise<number> {
  const to = quoteIdent(migrateRole);
  // The schema first: a new table owner needs CREATE on the table's schema.
  const schemas = await tx<{ nspname: string }[]>`select nspname from pg_namespace where nspname = 'drizzle' and nspowner = current_user::text::regrole`;
  if (schemas.length) await tx.unsafe(`alter schema drizzle owner to ${to}`);
  const owned = await tx<{ stmt: string }[]>`
    select format('alter %s %s owner to %s',
                  case c.relkind when 'S' then 'sequence' when 'v' then 'view' when 'm' then 'materialized view' else 'table' end,
                  c.oid::regclass, ${to}::text) as stmt
      from pg_class c join pg_namespace n on n.oid = c.relnamespace
     where n.nspname in ('public', 'drizzle') and c.relkind in ('r', 'p', 'S', 'v', 'm')
       and c.relowner = current_user::text::regrole
       and not exists (select 1 from pg_depend d where d.objid = c.oid and d.deptype in ('e', 'a', 'i'))
    union all
    select format('alter function %s owner to %s', p.oid::regprocedure, ${to}::text)
      from pg_proc p join pg_namespace n on n.oid = p.pronamespace
     where n.nspname = 'public' and p.proowner = current_user::text::regrole
       and not exists (select 1 from pg_depend d where d.objid = p.oid and d.deptype = 'e')
    union all
    select format('alter type %s owner to %s', t.oid::regtype, ${to}::text)
      from pg_type t join pg_namespace n on n.oid = t.typnamespace
     where n.nspname = 'public' and t.typtype in ('e', 'd') and t.typowner = current_user::text::regrole
`;
  for (const { stmt } of owned) await tx.unsafe(stmt);
  return owned.length + schemas.length;
}

const quoteIdent = (name: string) => `"${name.replace(/"/g, '""')}"`;

/** PostgreSQL's SCRAM-SHA-256 password verifier (RFC 5802/7677), as `CREATE ROLE … PASSWORD` stores it. */
export function scramVerifier(password: string, iterations = 4096, salt: Buffer = randomBytes(16)): string {
  // PostgreSQL runs SASLprep on the password first; for printable ASCII that is the identity.
  if (!/^[\x20-\x7e]+$/.test(password)) throw new Error('role passwords must be printable ASCII');
  const salted = pbkdf2Sync(password, salt, iterations, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}
