import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../../helpers/app.js';
import { login, mailbox, registerUser } from '../../helpers/auth.js';
import { createUserWithToken } from '../../helpers/users.js';

let t: TestApp;

beforeAll(async () => {
  t = await buildTestApp();
});
afterAll(async () => {
  await t?.close();
});

const remove = (headers: { authorization: string }, id: string) => t.app.inject({ method: 'DELETE', url: `/api/v1/admin/users/${id}`, headers });

describe('DELETE /api/v1/admin/users/:id', () => {
  it('deletes the account as the user would, audited with the admin as actor, and hides it from the admin routes', async () => {
    const admin = await createUserWithToken(t.app, { role: 'admin' });
    const user = await registerUser(t.app, { full_name: 'Gone Soon' });
    const doc = await t.app.inject({ method: 'POST', url: '/api/v1/documents', headers: user.headers, payload: { title: 't', s3_bucket: 'b', s3_key: 'k' } });
    expect(doc.statusCode).toBe(201);

    const res = await remove(admin.headers, user.id);
    expect(res.statusCode).toBe(204);
    expect((await t.app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: user.headers })).statusCode).toBe(401);
    expect((await login(t.app, user.email, user.password)).statusCode).toBe(401);
    expect((await t.testDb.sql`select count(*)::int as n from documents where owner_id = ${user.id}`)[0]!.n).toBe(0);

    const [audit] = await t.testDb.sql`select actor_id, entity_id, changes from audit_logs where action = 'admin.user_delete' and entity_id = ${user.id}`;
    expect(audit).toMatchObject({ actor_id: admin.id, entity_id: user.id, changes: { documents: 1, sessions: 1 } });

    // Not listed, not found, not patchable, not deletable again.
    const list = await t.app.inject({ method: 'GET', url: '/api/v1/admin/users?limit=100', headers: admin.headers });
    expect(list.json().data.map((u: { id: string }) => u.id)).not.toContain(user.id);
    const byEmail = await t.app.inject({ method: 'GET', url: `/api/v1/admin/users?email=${encodeURIComponent(user.email)}`, headers: admin.headers });
    expect(byEmail.json().data).toHaveLength(0);
    expect((await t.app.inject({ method: 'GET', url: `/api/v1/admin/users/${user.id}`, headers: admin.headers })).statusCode).toBe(404);
    expect((await t.app.inject({ method: 'PATCH', url: `/api/v1/admin/users/${user.id}`, headers: admin.headers, payload: { disabled: false } })).statusCode).toBe(404);
    expect((await remove(admin.headers, user.id)).statusCode).toBe(404);

    const notice = mailbox(t.app).find((m) => m.to === user.email && m.subject === 'Your account was deleted');
    expect(notice?.text).toContain('by an administrator');
  });

  it('refuses a non-admin (403), an unknown id (404) and a malformed id (400)', async () => {
    const user = await registerUser(t.app);
    const victim = await registerUser(t.app);
    expect((await remove(user.headers, victim.id)).statusCode).toBe(403);
    const admin = await createUserWithToken(t.app, { role: 'admin' });
    expect((await remove(admin.headers, '00000000-0000-4000-8000-000000000000')).statusCode).toBe(404);
    expect((await remove(admin.headers, 'not-a-uuid')).statusCode).toBe(400);
    expect((await t.app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: victim.headers })).statusCode).toBe(200);
  });

  it('the last enabled admin cannot be deleted (409), not even by themselves', async () => {
    const app = await buildTestApp();
    try {
      const only = await createUserWithToken(app.app, { role: 'admin' });
      const res = await app.app.inject({ method: 'DELETE', url: `/api/v1/admin/users/${only.id}`, headers: only.headers });
      expect(res.statusCode).toBe(409);
      expect(res.json().code).toBe('conflict');
      const second = await createUserWithToken(app.app, { role: 'admin' });
      expect((await app.app.inject({ method: 'DELETE', url: `/api/v1/admin/users/${only.id}`, headers: second.headers })).statusCode).toBe(204);
      // The tombstone is no admin: the one left is the last one now.
      const again = await app.app.inject({ method: 'DELETE', url: `/api/v1/admin/users/${second.id}`, headers: second.headers });
      expect(again.statusCode).toBe(409);
    } finally {
      await app.close();
    }
  });
});
