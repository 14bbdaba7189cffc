import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it, inject } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { runMigrations } from '../../src/db/migrate.js';
import { bootstrapRoles, scramVerifier } from '../../src/db/roles.js';
import { buildTestApp, testEnv, type TestApp } from '../helpers/app.js';
import { registerUser, login, STRONG_PASSWORD } from '../helpers/auth.js';
import { client, newDoc } from '../helpers/data.js';
import { createUserWithToken } from '../helpers/users.js';

// The app as production runs it: connected as a role that owns nothing. The administrator is
// a plain CREATEROLE role that owns the database, as the RDS master user is (no superuser).
// Roles are cluster-wide, so every name carries this file's suffix.

const adminUrl = inject('adminUrl');
const suffix = randomBytes(4).toString('hex');
const MASTER = `offbase_master_${suffix}`;
const APP = `offbase_app_${suffix}`;
const MIGRATE = `offbase_migrate_${suffix}`;
const DB = `offbase_roles_${suffix}`;
const LEGACY_DB = `offbase_roles_legacy_${suffix}`;
const PASSWORDS = { appPassword: 'app-password-0123456789abcdef', migratePassword: 'migrate-password-0123456789abcdef' };
const MASTER_PASSWORD = 'master-password-0123456789abcdef';
// Every role logs in with its password: the test server may require passwords (the embedded
// one does) or trust loopback (a local server); both must work.
const passwordOf: Record<string, string> = { [MASTER]: MASTER_PASSWORD, [APP]: PASSWORDS.appPassword, [MIGRATE]: PASSWORDS.migratePassword };

const urlAs = (user: string, db: string) => {
  const url = new URL(adminUrl);
  url.username = user;
  url.password = passwordOf[user] ?? '';
  url.pathname = `/${db}`;
  return url.toString();
};
const superuser = postgres(adminUrl, { max: 1, onnotice: () => {} });
const pools: postgres.Sql[] = [];
const connect = (user: string, db: string) => {
  const sql = postgres(urlAs(user, db), { max: 1, onnotice: () => {} });
  pools.push(sql);
  return sql;
};
const migrateAs = (user: string, db: string, appRole?: string) => {
  const config = loadConfig(testEnv(urlAs(user, db), appRole ? { DB_APP_ROLE: appRole } : {}));
  return runMigrations(config.db, urlAs(user, db));
};

let t: TestApp;
let asApp: postgres.Sql;

beforeAll(async () => {
  await superuser.unsafe(`create role ${MASTER} login createrole password '${MASTER_PASSWORD}'`);
  for (const db of [DB, LEGACY_DB]) await superuser.unsafe(`create database ${db} owner ${MASTER}`);
  const result = await bootstrapRoles(connect(MASTER, DB), { appRole: APP, migrateRole: MIGRATE, ...PASSWORDS });
  expect(result).toEqual({ created: [MIGRATE, APP], reassigned: 0 });
  await migrateAs(MIGRATE, DB, APP);
  const inspect = connect(MASTER, DB);
  t = await buildTestApp({}, { testDb: { name: DB, url: urlAs(APP, DB), appUrl: urlAs(APP, DB), sql: inspect, drop: async () => {} } });
  asApp = t.database.sql;
});

afterAll(async () => {
  await t?.close();
  await Promise.all(pools.map((p) => p.end({ timeout: 1 })));
  for (const db of [DB, LEGACY_DB]) await superuser.unsafe(`drop database if exists ${db} with (force)`);
  for (const role of [APP, MIGRATE, MASTER]) await superuser.unsafe(`drop role if exists ${role}`);
  await superuser.end();
});

describe('database roles', () => {
  it('the migrate role owns every table; the app role owns nothing', async () => {
    // pg_tables is per database: look from inside the app's database.
    const inside = await connect(MASTER, DB)<{ owner: string }[]>`select distinct tableowner as owner from pg_tables where schemaname in ('public', 'drizzle')`;
    expect(inside.map((r) => r.owner)).toEqual([MIGRATE]);
    const [app] = await superuser<{ super: boolean; createrole: boolean; createdb: boolean }[]>`
      select rolsuper as super, rolcreaterole as createrole, rolcreatedb as createdb from pg_roles where rolname = ${APP}`;
    expect(app).toEqual({ super: false, createrole: false, createdb: false });
  });

  it('the API works as the app role: register, login, documents CRUD, audit trail, readiness', async () => {
    const user = await registerUser(t.app);
    expect((await login(t.app, user.email, STRONG_PASSWORD)).statusCode).toBe(200);
    const admin = await createUserWithToken(t.app, { role: 'admin' });
    const api = client(t.app, admin);
    const created = await api('POST', '/documents', newDoc({ title: 'as the app role' }));
    expect(created.statusCode).toBe(201);
    const id = created.json().id as string;
    expect((await api('GET', `/documents/${id}`)).statusCode).toBe(200);
    expect((await api('PATCH', `/documents/${id}`, { status: 'ready' })).statusCode).toBe(200);
    expect((await api('GET', '/documents')).json().data.length).toBeGreaterThan(0);
    expect((await api('DELETE', `/documents/${id}`)).statusCode).toBe(204);
    const audit = await t.app.inject({ method: 'GET', url: '/api/v1/audit-logs', headers: admin.headers });
    expect(audit.statusCode).toBe(200);
    const rows = await asApp<{ action: string }[]>`select action from audit_logs where entity_id = ${id} order by id`;
    expect(rows.length).toBeGreaterThanOrEqual(3);
    const ready = await t.app.inject({ method: 'GET', url: '/health/ready' });
    expect(ready.statusCode).toBe(200);
    expect(ready.json().migrations.applied).toBeGreaterThan(0);
  });

  it('the app role may not change or remove audit rows: refused by privilege, before the trigger', async () => {
    // "permission denied for table" is the grant; the trigger would say "append-only".
    await expect(asApp`update audit_logs set action = action`).rejects.toThrow(/permission denied for table audit_logs/);
    await expect(asApp`delete from audit_logs`).rejects.toThrow(/permission denied for table audit_logs/);
    await expect(asApp`truncate audit_logs`).rejects.toThrow(/permission denied for table audit_logs/);
  });

  it('the app role may not write users.mfa_enabled; the triggers on mfa_factors still keep it', async () => {
    const user = await createUserWithToken(t.app);
    const flag = async () => (await asApp<{ on: boolean }[]>`select mfa_enabled as on from users where id = ${user.id}`)[0]!.on;
    // Switching a user's MFA off by hand is refused by privilege, whatever the value.
    await expect(asApp`update users set mfa_enabled = false where id = ${user.id}`).rejects.toThrow(/permission denied for table users/);
    await expect(asApp`update users set mfa_enabled = true where id = ${user.id}`).rejects.toThrow(/permission denied for table users/);
    // Every other column stays the app's to update.
    await asApp`update users set updated_at = now() where id = ${user.id}`;
    // A verified factor, written as the app writes it, turns the flag on through the trigger,
    // whose function updates the row with its owner's rights; removing it turns it off.
    const [factor] = await asApp<{ id: string }[]>`
      insert into mfa_factors (user_id, status, secret_ciphertext, secret_key_id) values (${user.id}, 'verified', 'x', 'k') returning id`;
    expect(await flag()).toBe(true);
    await asApp`delete from mfa_factors where id = ${factor!.id}`;
    expect(await flag()).toBe(false);
    // The narrowing survives the next migration run's re-grant.
    expect((await migrateAs(MIGRATE, DB, APP)).ran).toBe(0);
    await expect(asApp`update users set mfa_enabled = false where id = ${user.id}`).rejects.toThrow(/permission denied for table users/);
  });

  it('the app role may not run DDL', async () => {
    await expect(asApp`create table offbase_intruder (id int)`).rejects.toThrow(/permission denied for schema public/);
    await expect(asApp`alter table users add column intruder int`).rejects.toThrow(/must be owner of table users/);
    await expect(asApp`drop table documents`).rejects.toThrow(/must be owner of table documents/);
    await expect(asApp`create schema intruder`).rejects.toThrow(/permission denied for database/);
  });

  it('bootstrap is idempotent; migrations re-grant the app role', async () => {
    const again = await bootstrapRoles(connect(MASTER, DB), { appRole: APP, migrateRole: MIGRATE, ...PASSWORDS });
    expect(again).toEqual({ created: [], reassigned: 0 });
    const result = await migrateAs(MIGRATE, DB, APP);
    expect(result.ran).toBe(0);
    expect((await asApp`select count(*)::int as n from users`)[0]!.n).toBeGreaterThan(0);
  });

  it('a database the administrator migrated before the roles existed is handed to the migrate role', async () => {
    await migrateAs(MASTER, LEGACY_DB);
    const result = await bootstrapRoles(connect(MASTER, LEGACY_DB), { appRole: APP, migrateRole: MIGRATE, ...PASSWORDS });
    expect(result.created).toEqual([]);
    expect(result.reassigned).toBeGreaterThan(5);
    const owners = await connect(MASTER, LEGACY_DB)<{ owner: string }[]>`select distinct tableowner as owner from pg_tables where schemaname in ('public', 'drizzle')`;
    expect(owners.map((r) => r.owner)).toEqual([MIGRATE]);
    expect((await migrateAs(MIGRATE, LEGACY_DB, APP)).ran).toBe(0);
    const app = connect(APP, LEGACY_DB);
    expect(await app`select count(*)::int as n from documents`).toEqual([{ n: 0 }]);
    await expect(app`delete from audit_logs`).rejects.toThrow(/permission denied for table audit_logs/);
  });

  it('role passwords are stored as SCRAM verifiers PostgreSQL itself would compute', async () => {
    const [row] = await superuser<{ hash: string }[]>`select rolpassword as hash from pg_authid where rolname = ${APP}`;
    const [, iterations, salt] = /^SCRAM-SHA-256\$(\d+):([^$]+)\$/.exec(row!.hash)!;
    expect(scramVerifier(PASSWORDS.appPassword, Number(iterations), Buffer.from(salt!, 'base64'))).toBe(row!.hash);
    // And the same verifier PostgreSQL derives from the plaintext.
    const probe = `offbase_probe_${suffix}`;
    await superuser.unsafe(`set password_encryption = 'scram-sha-256'`);
    await superuser.unsafe(`create role ${probe} password 'probe-password-0123456789'`);
    try {
      const [p] = await superuser<{ hash: string }[]>`select rolpassword as hash from pg_authid where rolname = ${probe}`;
      const [, n, s] = /^SCRAM-SHA-256\$(\d+):([^$]+)\$/.exec(p!.hash)!;
      expect(scramVerifier('probe-password-0123456789', Number(n), Buffer.from(s!, 'base64'))).toBe(p!.hash);
    } finally {
      await superuser.unsafe(`drop role ${probe}`);
    }
  });
});
