import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { randomBytes, randomUUID } from 'node:crypto';
import { hash } from '@node-rs/bcrypt';
import postgres from 'postgres';
import { ROOT } from './process.js';

// A stand-in for a Supabase project's database: the auth schema with auth.users as Supabase
// documents it, the anon / authenticated / service_role roles, and an app's public tables
// (with a renamed owner column and a storage path instead of s3 columns, as real apps have).

export interface SupabaseSource {
  name: string;
  /** URL with a password-bearing user, so tests can check the password never leaks. */
  url: string;
  password: string;
  sql: postgres.Sql;
  drop(): Promise<void>;
}

/** bcrypt cost 10 with GoTrue's $2a$ prefix (@node-rs/bcrypt writes $2b$ or $2y$; all verify the same). */
export async function supabaseHash(password: string): Promise<string> {
  return (await hash(password, 10)).replace(/^\$2[by]\$/, '$2a$');
}

const SCHEMA = `
do $$ begin
  if not exists (select 1 from pg_roles where rolname = 'anon') then create role anon nologin noinherit; end if;
  if not exists (select 1 from pg_roles where rolname = 'authenticated') then create role authenticated nologin noinherit; end if;
  if not exists (select 1 from pg_roles where rolname = 'service_role') then create role service_role nologin noinherit bypassrls; end if;
end $$;
create schema auth;
create table auth.users (
  instance_id uuid,
  id uuid primary key,
  aud varchar(255),
  role varchar(255),
  email varchar(255),
  encrypted_password varchar(255),
  email_confirmed_at timestamptz,
  invited_at timestamptz,
  confirmation_token varchar(255),
  confirmation_sent_at timestamptz,
  recovery_token varchar(255),
  recovery_sent_at timestamptz,
  email_change varchar(255),
  last_sign_in_at timestamptz,
  raw_app_meta_data jsonb,
  raw_user_meta_data jsonb,
  is_super_admin boolean,
  created_at timestamptz,
  updated_at timestamptz,
  phone text unique,
  phone_confirmed_at timestamptz,
  confirmed_at timestamptz generated always as (least(email_confirmed_at, phone_confirmed_at)) stored,
  banned_until timestamptz,
  reauthentication_token varchar(255),
  is_sso_user boolean not null default false,
  deleted_at timestamptz,
  is_anonymous boolean not null default false
);
create table public.documents (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null,
  title text not null,
  description text,
  status text not null default 'uploaded',
  storage_path text not null,
  content_type text,
  size_bytes bigint,
  sha256 text,
  content_text text,
  tags text[] not null default '{}',
  metadata jsonb not null default '{}',
  is_public boolean not null default false,
  analysis_count integer not null default 0,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create table public.analyses (
  id uuid primary key default gen_random_uuid(),
  document_id uuid not null references public.documents (id) on delete cascade,
  owner_id uuid not null,
  kind text not null,
  model text,
  status text not null default 'pending',
  result jsonb,
  error text,
  tokens_used integer,
  cost_usd numeric(14, 6),
  duration_ms integer,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create table public.audit_logs (
  id bigint generated always as identity primary key,
  actor_id uuid,
  action text not null,
  entity_type text not null,
  entity_id text,
  request_id text,
  ip text,
  user_agent text,
  changes jsonb,
  created_at timestamptz not null default now()
);
alter table public.documents enable row level security;
grant usage on schema public to anon, authenticated, service_role;
`;

/** The mapping file this source needs: renamed owner column, storage path → s3_key, a bucket. */
export const SOURCE_MAPPING = {
  documents: { columns: { user_id: 'owner_id', storage_path: 's3_key' }, defaults: { s3_bucket: 'supabase-storage' } },
};

export async function createSupabaseSource(): Promise<SupabaseSource> {
  const { inject } = await import('vitest');
  const name = `${inject('templateDb').replace('offbase_tpl_', 'offbase_t_')}_sb${randomBytes(4).toString('hex')}`;
  return createSupabaseDatabase(inject('adminUrl'), name);
}

/** Creates the stand-in on any server (the bench uses this without vitest). */
export async function createSupabaseDatabase(adminUrl: string, name: string): Promise<SupabaseSource> {
  const user = `sb_${randomBytes(4).toString('hex')}`;
  const password = `pw-${randomBytes(9).toString('hex')}`;
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database ${name}`);
  await admin.unsafe(`create role ${user} login password '${password}'`);
  await admin.unsafe(`alter database ${name} owner to ${user}`);
  await admin.end();
  const superUrl = new URL(adminUrl);
  superUrl.pathname = `/${name}`;
  const sql = postgres(superUrl.toString(), { max: 2, onnotice: () => {} });
  await sql.unsafe(SCHEMA);
  // Like Supabase's postgres role: owner of the app tables (so RLS does not hide rows), reader of auth.
  await sql.unsafe(`grant usage on schema auth to ${user}; grant select on all tables in schema auth to ${user}`);
  for (const t of ['documents', 'analyses', 'audit_logs']) await sql.unsafe(`alter table public.${t} owner to ${user}`);
  const url = new URL(superUrl);
  url.username = user;
  url.password = password;
  return {
    name,
    url: url.toString(),
    password,
    sql,
    async drop() {
      await sql.end({ timeout: 5 });
      const a = postgres(adminUrl, { max: 1, onnotice: () => {} });
      await a.unsafe(`drop database if exists ${name} with (force)`);
      await a.unsafe(`drop role if exists ${user}`);
      await a.end();
    },
  };
}

export interface SourceUser {
  id: string;
  email: string | null;
  password?: string;
}

export async function insertAuthUser(
  sql: postgres.Sql,
  u: {
    email: string | null;
    password?: string | null;
    encrypted_password?: string;
    app?: Record<string, unknown>;
    meta?: Record<string, unknown>;
    confirmed?: boolean;
    banned_until?: string | null;
    deleted_at?: string | null;
    created_at?: string;
    phone?: string;
  },
): Promise<string> {
  const id = randomUUID();
  const encrypted = u.encrypted_password ?? (u.password ? await supabaseHash(u.password) : u.password === null ? null : '');
  await sql`
    insert into auth.users (instance_id, id, aud, role, email, encrypted_password, email_confirmed_at, last_sign_in_at,
      raw_app_meta_data, raw_user_meta_data, created_at, updated_at, banned_until, deleted_at, phone)
    values ('00000000-0000-0000-0000-000000000000', ${id}, 'authenticated', 'authenticated', ${u.email}, ${encrypted},
      ${u.confirmed === false ? null : '2024-01-02T03:04:05.123456Z'}, '2024-06-01T10:00:00.654321Z',
      ${sql.json((u.app ?? { provider: 'email', providers: ['email'] }) as postgres.JSONValue)},
      ${sql.json((u.meta ?? {}) as postgres.JSONValue)}, ${u.created_at ?? '2024-01-01T00:00:00.000001Z'}::text::timestamptz, '2024-05-05T05:05:05.5Z',
      ${u.banned_until ?? null}, ${u.deleted_at ?? null}, ${u.phone ?? null})`;
  return id;
}

/** SOURCE_MAPPING written to a temporary file, for --mapping / runImport({ mappingPath }). */
export function writeSourceMapping(): string {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'offbase-mapping-')), 'mapping.json');
  writeFileSync(file, JSON.stringify(SOURCE_MAPPING));
  return file;
}

/** A callable global GC, so memory tests measure what stays live rather than garbage. */
export function exposeGc(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

/** Runs `tsx src/cli.ts import-supabase <args>` as a real process with offbase's database at targetUrl. */
export function importCli(args: string[], targetUrl: string): Promise<{ code: number | null; out: string }> {
  const full = ['--import', 'tsx', path.join(ROOT, 'src/cli.ts'), 'import-supabase', ...args];
  return new Promise((resolve) => {
    let out = '';
    const child = spawn(process.execPath, full, {
      cwd: ROOT,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, NODE_ENV: 'test', DATABASE_URL: targetUrl },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.once('exit', (code) => resolve({ code, out }));
  });
}
