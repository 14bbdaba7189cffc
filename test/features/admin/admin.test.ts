import { spawn } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, TEST_JWT_SECRET, type TestApp } from '../../helpers/app.js';
import { login, registerUser, type RegisteredUser } from '../../helpers/auth.js';
import { ROOT } from '../../helpers/process.js';

let t: TestApp;
let adminUser: RegisteredUser;

beforeAll(async () => {
  t = await buildTestApp();
  adminUser = await registerUser(t.app, { email: 'root-admin@example.com' });
  await t.testDb.sql`update users set role = 'admin' where id = ${adminUser.id}`;
});
afterAll(() => t?.close());

const req = (method: 'GET' | 'PATCH', url: string, user: RegisteredUser, payload?: object) =>
  t.app.inject({ method, url: `/api/v1/admin${url}`, headers: user.headers, ...(payload ? { payload } : {}) });

describe('admin users API', () => {
  it('403 forbidden for a non-admin, 401 without a token', async () => {
    const u = await registerUser(t.app);
    for (const [method, url] of [['GET', '/users'], ['GET', `/users/${u.id}`], ['PATCH', `/users/${u.id}`]] as const) {
      const res = await req(method, url, u, method === 'PATCH' ? { role: 'admin' } : undefined);
      expect(res.statusCode, url).toBe(403);
      expect(res.json().code).toBe('forbidden');
    }
    expect((await t.app.inject({ method: 'GET', url: '/api/v1/admin/users' })).json().code).toBe('unauthorized');
  });

  it('lists with email and role filters and a keyset cursor', async () => {
    const made = [];
    for (let i = 0; i < 5; i++) made.push(await registerUser(t.app, { email: `listme-${i}@corp.example.com` }));
    const page1 = await req('GET', '/users?email=LISTME-&limit=2', adminUser);
    expect(page1.statusCode).toBe(200);
    const b1 = page1.json();
    expect(b1.data.map((u: { email: string }) => u.email)).toEqual(['listme-4@corp.example.com', 'listme-3@corp.example.com']);
    expect(Object.keys(b1.data[0]).sort()).toEqual(
      ['created_at', 'disabled', 'disabled_at', 'email', 'email_verified', 'email_verified_at', 'full_name', 'id', 'last_login_at', 'metadata', 'preferences', 'role', 'updated_at'],
    );
    const seen = [...b1.data];
    let cursor = b1.next_cursor;
    while (cursor) {
      const page = (await req('GET', `/users?email=listme-&limit=2&cursor=${cursor}`, adminUser)).json();
      seen.push(...page.data);
      cursor = page.next_cursor;
    }
    expect(seen.map((u) => u.id).sort()).toEqual(made.map((u) => u.id).sort());
    const admins = (await req('GET', '/users?role=admin', adminUser)).json();
    expect(admins.data.map((u: { email: string }) => u.email)).toEqual(['root-admin@example.com']);
    // A wildcard in the filter is matched literally.
    expect((await req('GET', '/users?email=%25', adminUser)).json().data).toEqual([]);
  });

  it('400 validation_failed for a bad cursor, limit, role or id', async () => {
    for (const url of ['/users?cursor=nope', '/users?limit=0', '/users?limit=101', '/users?role=root', '/users/not-a-uuid', '/users?extra=1']) {
      const res = await req('GET', url, adminUser);
      expect(res.statusCode, url).toBe(400);
      expect(res.json().code).toBe('validation_failed');
    }
  });

  it('GET one; 404 not_found for an unknown id', async () => {
    const u = await registerUser(t.app);
    const res = await req('GET', `/users/${u.id}`, adminUser);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ id: u.id, email: u.email, disabled: false });
    const missing = await req('GET', '/users/00000000-0000-4000-8000-000000000000', adminUser);
    expect(missing.statusCode).toBe(404);
    expect(missing.json().code).toBe('not_found');
  });

  it('PATCH role: the new role applies on the next request and is audited with before/after', async () => {
    const u = await registerUser(t.app);
    expect((await req('GET', '/users', u)).statusCode).toBe(403);
    const res = await req('PATCH', `/users/${u.id}`, adminUser, { role: 'admin' });
    expect(res.statusCode).toBe(200);
    expect(res.json().role).toBe('admin');
    // The old access token (role=user claim) is now an admin's: the role is read per request.
    expect((await req('GET', '/users', u)).statusCode).toBe(200);
    const [audit] = await t.testDb.sql`select actor_id, changes from audit_logs where action = 'admin.user_update' and entity_id = ${u.id}`;
    expect(audit!.actor_id).toBe(adminUser.id);
    expect(audit!.changes).toEqual({ role: { before: 'user', after: 'admin' } });
    await req('PATCH', `/users/${u.id}`, adminUser, { role: 'user' });
    expect((await req('GET', '/users', u)).statusCode).toBe(403);
  });

  it('PATCH disabled: every session dies at once; login is refused; enabling restores login', async () => {
    const u = await registerUser(t.app);
    const res = await req('PATCH', `/users/${u.id}`, adminUser, { disabled: true });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ disabled: true });
    expect((await t.app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: u.headers })).json().code).toBe('invalid_token');
    const refresh = await t.app.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: { refresh_token: u.refreshToken } });
    expect(refresh.json().code).toBe('invalid_refresh_token');
    expect((await login(t.app, u.email, u.password)).json().code).toBe('invalid_credentials');
    const [s] = await t.testDb.sql`select revoked_reason from sessions where id = ${u.sessionId}`;
    expect(s!.revoked_reason).toBe('disabled');
    const [audit] = await t.testDb.sql`select changes from audit_logs where action = 'admin.user_update' and entity_id = ${u.id}`;
    expect(audit!.changes).toMatchObject({ disabled: { before: false, after: true } });
    expect((await req('PATCH', `/users/${u.id}`, adminUser, { disabled: false })).json().disabled).toBe(false);
    expect((await login(t.app, u.email, u.password)).statusCode).toBe(200);
  });

  it('PATCH: 400 for unknown fields or an empty body; 409 when the last admin would lock everyone out', async () => {
    const u = await registerUser(t.app);
    for (const payload of [{}, { email: 'x@example.com' }, { role: 'root' }]) {
      const res = await req('PATCH', `/users/${u.id}`, adminUser, payload);
      expect(res.statusCode).toBe(400);
      expect(res.json().code).toBe('validation_failed');
    }
    const self = await req('PATCH', `/users/${adminUser.id}`, adminUser, { role: 'user' });
    expect(self.statusCode).toBe(409);
    expect(self.json().code).toBe('conflict');
  });
});

function cli(args: string[], stdin: string, env: Record<string, string> = {}) {
  return new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/cli.ts'), ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, NODE_ENV: 'test', DATABASE_URL: t.testDb.url, JWT_SECRET: TEST_JWT_SECRET, ARGON2_MEMORY_KIB: '8192', ARGON2_TIME_COST: '1', ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('exit', (code) => resolve({ code, out, err }));
    child.stdin.end(stdin);
  });
}

describe('npm run cli -- create-admin', () => {
  it('creates an admin with the password from stdin; it can log in and use the admin API', async () => {
    const password = 'operator-chosen-passphrase';
    const res = await cli(['create-admin', '--email', ' Ops@Example.com '], `${password}\n`);
    expect(res.err).toBe('');
    expect(res.code).toBe(0);
    const out = JSON.parse(res.out);
    expect(out).toMatchObject({ email: 'ops@example.com', role: 'admin', created: true });
    expect(res.out + res.err).not.toContain(password);
    const session = await login(t.app, 'ops@example.com', password);
    expect(session.statusCode).toBe(200);
    expect(session.json().user).toMatchObject({ role: 'admin', email_verified: true });
    const list = await t.app.inject({ method: 'GET', url: '/api/v1/admin/users', headers: { authorization: `Bearer ${session.json().access_token}` } });
    expect(list.statusCode).toBe(200);
  });

  it('promotes and re-enables an existing user without touching the password', async () => {
    const u = await registerUser(t.app);
    await t.testDb.sql`update users set disabled_at = now() where id = ${u.id}`;
    const res = await cli(['create-admin', '--email', u.email], '');
    expect(res.code).toBe(0);
    expect(JSON.parse(res.out)).toMatchObject({ id: u.id, created: false, changed: ['role', 'disabled'] });
    const session = await login(t.app, u.email, u.password);
    expect(session.json().user.role).toBe('admin');
  });

  it('refuses a weak or empty password and takes none from argv', async () => {
    const weak = await cli(['create-admin', '--email', 'weak-admin@example.com'], 'password\n');
    expect(weak.code).toBe(1);
    expect(weak.err).toMatch(/weak password/);
    const empty = await cli(['create-admin', '--email', 'empty-admin@example.com'], '');
    expect(empty.code).toBe(1);
    expect(empty.err).toMatch(/no password/);
    const argv = await cli(['create-admin', '--email', 'argv-admin@example.com', '--password', 'in-argv-passphrase'], '');
    expect(argv.code).not.toBe(0);
    expect(argv.err).toMatch(/unknown option '--password'/);
    const [{ n }] = (await t.testDb.sql`select count(*)::int as n from users where email in ('weak-admin@example.com', 'empty-admin@example.com', 'argv-admin@example.com')`) as unknown as [{ n: number }];
    expect(n).toBe(0);
  });
});
