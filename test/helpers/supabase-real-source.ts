import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import postgres from 'postgres';
import { ROOT } from './process.js';
import { supabaseHash } from './supabase-source.js';

// A source shaped like a real Supabase project (test/fixtures/supabase-*.sql): GoTrue's auth
// schema owned by an auth admin role, a dashboard `postgres` role that is not a superuser but
// has BYPASSRLS, a reader role with neither (what a hand-made read-only role looks like), and
// users written the way GoTrue writes them. Role names are unique per database: roles are
// cluster-global and test files run in parallel.

export interface RealSupabaseSource {
  name: string;
  /** as the dashboard's postgres role (BYPASSRLS, not superuser, does not own auth). */
  url: string;
  password: string;
  /** as a role that can SELECT everything but has no BYPASSRLS. */
  readerUrl: string;
  readerRole: string;
  postgresRole: string;
  /** superuser connection to the source database, for setting up rows. */
  sql: postgres.Sql;
  drop(): Promise<void>;
}

const fixture = (file: string, roles: Record<string, string>) => {
  let text = readFileSync(path.join(ROOT, 'test/fixtures', file), 'utf8');
  for (const [token, role] of Object.entries(roles)) text = text.split(token).join(role);
  return text;
};

export async function createRealSupabaseSource(): Promise<RealSupabaseSource> {
  const { inject } = await import('vitest');
  const adminUrl = inject('adminUrl');
  const tag = randomBytes(4).toString('hex');
  const name = `${inject('templateDb').replace('offbase_tpl_', 'offbase_t_')}_sbr${tag}`;
  const roles = { auth: `sbr_${tag}_auth_admin`, pg: `sbr_${tag}_postgres`, reader: `sbr_${tag}_reader` };
  const password = `pw-${randomBytes(9).toString('hex')}`;
  const cleanup = async () => {
    const a = postgres(adminUrl, { max: 1, onnotice: () => {} });
    try {
      await a.unsafe(`drop database if exists ${name} with (force)`);
      for (const r of Object.values(roles)) await a.unsafe(`drop role if exists ${r}`);
    } finally {
      await a.end();
    }
  };
  const superUrl = new URL(adminUrl);
  superUrl.pathname = `/${name}`;
  const sql = postgres(superUrl.toString(), { max: 2, onnotice: () => {} });
  try {
    const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
    try {
      await admin.unsafe(`create role ${roles.auth} nologin noinherit createrole`);
      await admin.unsafe(`create role ${roles.pg} login password '${password}' nosuperuser bypassrls createrole`);
      await admin.unsafe(`create role ${roles.reader} login password '${password}' nosuperuser nobypassrls`);
      await admin.unsafe(`create database ${name} owner ${roles.pg}`);
    } finally {
      await admin.end();
    }
    await sql.unsafe(fixture('supabase-auth.sql', { __AUTH_ADMIN__: roles.auth, __POSTGRES__: roles.pg }));
    await sql.unsafe(fixture('supabase-seed-public.sql', { __POSTGRES__: roles.pg }));
    await sql.unsafe(`grant usage on schema auth to ${roles.reader}; grant select on all tables in schema auth to ${roles.reader};
      grant select on all tables in schema public to ${roles.reader}`);
  } catch (err) {
    // Roles are cluster-global: never leave them behind when the setup fails.
    await sql.end({ timeout: 5 });
    await cleanup();
    throw err;
  }
  const as = (role: string) => {
    const u = new URL(superUrl);
    u.username = role;
    u.password = password;
    return u.toString();
  };
  return {
    name,
    url: as(roles.pg),
    password,
    readerUrl: as(roles.reader),
    readerRole: roles.reader,
    postgresRole: roles.pg,
    sql,
    async drop() {
      await sql.end({ timeout: 5 });
      await cleanup();
    },
  };
}

export interface GoTrueUser {
  email?: string | null;
  phone?: string | null;
  /** a plain password, stored as GoTrue does (bcrypt cost 10, $2a$). */
  password?: string;
  /** a stored hash as-is (argon2, Firebase scrypt, a foreign format...). */
  hash?: string | null;
  /** how the account signs in; email by default. */
  provider?: 'email' | 'phone' | 'google' | 'github' | 'sso' | 'anonymous';
  confirmed?: boolean;
  invited?: boolean;
  bannedUntil?: string;
  deleted?: boolean;
  lastSignIn?: string | null;
  createdAt?: string;
  meta?: Record<string, unknown>;
  app?: Record<string, unknown>;
}

const obfuscate = (id: string, value: string) => createHash('sha256').update(id + value).digest('base64url');

/** Inserts auth.users (+ auth.identities) rows the way GoTrue writes them; returns the id. */
export async function addGoTrueUser(sql: postgres.Sql, u: GoTrueUser): Promise<string> {
  const id = randomUUID();
  const provider = u.provider ?? (u.email ? 'email' : u.phone ? 'phone' : 'anonymous');
  const ssoProvider = `sso:${randomUUID()}`;
  const providerName = provider === 'sso' ? ssoProvider : provider;
  const email = u.email ?? null;
  // GoTrue stores '' for accounts without a password; a soft delete sets it to NULL.
  let encrypted: string | null = u.hash !== undefined ? u.hash : u.password ? await supabaseHash(u.password) : '';
  const created = u.createdAt ?? '2024-01-10T09:00:00.000001Z';
  const confirmedAt = u.confirmed === false || u.invited ? null : '2024-01-10T09:05:00Z';
  const meta: Record<string, unknown> =
    provider === 'anonymous' ? {} : { sub: id, email: email ?? undefined, email_verified: confirmedAt !== null, phone_verified: false, ...(u.meta ?? {}) };
  const app = u.app ?? (provider === 'anonymous' ? {} : { provider: providerName, providers: [providerName] });
  let storedEmail = email;
  let storedPhone = u.phone ?? null;
  if (u.deleted) {
    storedEmail = email ? obfuscate(id, email) : null;
    storedPhone = storedPhone ? obfuscate(id, storedPhone).slice(0, 15) : null;
    encrypted = null;
  }
  await sql`
    insert into auth.users (instance_id, id, aud, role, email, encrypted_password, email_confirmed_at, invited_at,
      confirmation_token, confirmation_sent_at, recovery_token, last_sign_in_at, raw_app_meta_data, raw_user_meta_data,
      created_at, updated_at, phone, phone_confirmed_at, banned_until, is_sso_user, deleted_at, is_anonymous)
    values ('00000000-0000-0000-0000-000000000000', ${id}, 'authenticated', 'authenticated', ${storedEmail}, ${encrypted},
      ${email ? confirmedAt : null}, ${u.invited ? created : null}, ${confirmedAt === null && email ? randomBytes(28).toString('hex') : ''},
      ${confirmedAt === null ? created : null}, '', ${u.lastSignIn === undefined ? '2024-06-01T10:00:00Z' : u.lastSignIn},
      ${sql.json(app as postgres.JSONValue)}, ${sql.json(meta as postgres.JSONValue)}, ${created}, ${created}, ${storedPhone},
      ${storedPhone && !u.deleted ? '2024-01-10T09:05:00Z' : null}, ${u.bannedUntil ?? null}, ${provider === 'sso'},
      ${u.deleted ? '2024-05-01T00:00:00Z' : null}, ${provider === 'anonymous'})`;
  if (provider !== 'anonymous') {
    const providerId = provider === 'google' ? `1${randomBytes(10).toString('hex')}` : provider === 'github' ? String(1000 + (randomBytes(2).readUInt16BE())) : id;
    const data = { sub: providerId, email: email ?? undefined, phone: provider === 'phone' ? storedPhone : undefined, email_verified: confirmedAt !== null, phone_verified: provider === 'phone' };
    await sql`
      insert into auth.identities (provider_id, user_id, identity_data, provider, last_sign_in_at, created_at, updated_at)
      values (${u.deleted ? obfuscate(id, `${providerName}:${providerId}`) : providerId}, ${id}, ${sql.json(data as postgres.JSONValue)},
        ${providerName}, ${u.lastSignIn ?? null}, ${created}, ${created})`;
  }
  return id;
}

/** A verified (or not) TOTP factor, as GoTrue stores one. */
export async function addTotpFactor(sql: postgres.Sql, userId: string, status: 'verified' | 'unverified' = 'verified'): Promise<void> {
  await sql`
    insert into auth.mfa_factors (id, user_id, friendly_name, factor_type, status, created_at, updated_at, secret)
    values (${randomUUID()}, ${userId}, ${`phone app ${randomBytes(2).toString('hex')}`}, 'totp', ${status}, now(), now(), ${randomBytes(20).toString('hex')})`;
}
