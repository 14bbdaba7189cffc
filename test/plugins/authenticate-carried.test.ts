import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { client, newDoc } from '../helpers/data.js';
import { createUserWithToken, type TestUser } from '../helpers/users.js';

// The document reads carry the session check in their own statement (plugins/authenticate.ts,
// context/session.ts). Whatever path the check takes (carried by the read, run on its own
// because the read found nothing, run before sending because no read happened), a request of
// a dead session gets the same 401 the separate check gave, and never the data.

const ANON_KEY = 'carried-check-test-anon-key-0123456789';
let t: TestApp;
let replica: TestApp;
beforeAll(async () => {
  t = await buildTestApp({ OFFBASE_ANON_KEY: ANON_KEY });
  // Reads on a replica (here the same database under another pool) cannot carry the check.
  replica = await buildTestApp({ OFFBASE_ANON_KEY: ANON_KEY, DATABASE_READ_URL: t.testDb.appUrl }, { testDb: t.testDb });
});
afterAll(async () => {
  await replica?.close();
  await t?.close();
});

async function userWithDoc(app = t): Promise<{ user: TestUser; id: string; title: string }> {
  const user = await createUserWithToken(app.app);
  const doc = newDoc();
  const res = await client(app.app, user)('POST', '/documents', doc);
  expect(res.statusCode).toBe(201);
  return { user, id: res.json().id, title: doc.title };
}

/** The title's own word (newDoc: "Document <8 hex>"), which no other document has. */
const wordOf = (title: string) => title.split(' ')[1]!;
const sql = () => t.testDb.sql;
const revoke = (u: TestUser) => sql()`update sessions set revoked_at = now() where id = ${u.sessionId}`;

function expectInvalidToken(res: { statusCode: number; headers: Record<string, unknown>; body: string }, title?: string) {
  expect(res.statusCode, res.body).toBe(401);
  expect(JSON.parse(res.body).code).toBe('invalid_token');
  expect(res.headers.etag).toBeUndefined();
  if (title) expect(res.body).not.toContain(title);
}

describe.each([
  ['primary only', () => t],
  ['with a read replica', () => replica],
])('document reads with the session check carried (%s)', (_name, app) => {
  it('a live session reads its own documents', async () => {
    const { user, id, title } = await userWithDoc(app());
    const api = client(app().app, user);
    const one = await api('GET', `/documents/${id}`);
    expect(one.statusCode).toBe(200);
    expect(one.json()).toMatchObject({ id, title });
    expect(one.headers.etag).toBeDefined();
    const list = await api('GET', '/documents?limit=5');
    expect(list.statusCode).toBe(200);
    expect(list.json().data.map((d: { id: string }) => d.id)).toEqual([id]);
    const found = await api('GET', `/documents/search?q=${wordOf(title)}`);
    expect(found.statusCode).toBe(200);
    expect(found.json().data.map((d: { id: string }) => d.id)).toEqual([id]);
    expect((await api('GET', '/documents/search?q=nowherefound')).json().data).toEqual([]);
    // Nothing found is still the documented 404 / empty page for a live session.
    expect((await api('GET', `/documents/${randomUUID()}`)).statusCode).toBe(404);
    const fresh = await createUserWithToken(app().app);
    expect((await client(app().app, fresh)('GET', '/documents?limit=5')).json().data).toEqual([]);
  });

  it('a revoked session gets 401 on every path: found, not found, someone else’s, empty, invalid query, HEAD', async () => {
    const { user, id, title } = await userWithDoc(app());
    const other = await userWithDoc(app());
    const api = client(app().app, user);
    await revoke(user);
    expectInvalidToken(await api('GET', `/documents/${id}`), title);
    expectInvalidToken(await api('GET', `/documents/${randomUUID()}`));
    expectInvalidToken(await api('GET', `/documents/${other.id}`), other.title);
    expectInvalidToken(await api('GET', '/documents?limit=5'), title);
    expectInvalidToken(await api('GET', '/documents?limit=5&sort=title'), title);
    expectInvalidToken(await api('GET', '/documents?limit=not-a-number'));
    expectInvalidToken(await api('GET', '/documents?limit=5&count=exact'), title);
    expectInvalidToken(await api('GET', `/documents/search?q=${wordOf(title)}`), title);
    expectInvalidToken(await api('GET', `/documents/search?q=${wordOf(other.title)}`), other.title);
    expectInvalidToken(await api('GET', '/documents/search?q=nowherefound'));
    const head = await app().app.inject({ method: 'HEAD', url: `/api/v1/documents/${id}`, headers: user.headers });
    expect(head.statusCode).toBe(401);
    expect(head.headers.etag).toBeUndefined();
    // The empty list of a dead session is a 401 too, not an empty page.
    const empty = await createUserWithToken(app().app);
    await revoke(empty);
    expectInvalidToken(await client(app().app, empty)('GET', '/documents?limit=5'));
  });

  it('an expired session and a disabled user get 401', async () => {
    const expired = await userWithDoc(app());
    await sql()`update sessions set expires_at = now() - interval '1 second' where id = ${expired.user.sessionId}`;
    expectInvalidToken(await client(app().app, expired.user)('GET', `/documents/${expired.id}`), expired.title);
    const disabled = await userWithDoc(app());
    await sql()`update users set disabled_at = now() where id = ${disabled.user.id}`;
    expectInvalidToken(await client(app().app, disabled.user)('GET', '/documents?limit=5'), disabled.title);
  });

  it('a user with a verified second factor on an aal1 session gets mfa_required, not the data', async () => {
    const { user, id, title } = await userWithDoc(app());
    await sql()`insert into mfa_factors (user_id, status, secret_ciphertext, secret_key_id, verified_at) values (${user.id}, 'verified', 'x', 'k', now())`;
    for (const url of [`/documents/${id}`, '/documents?limit=5', `/documents/${randomUUID()}`, `/documents/search?q=${wordOf(title)}`]) {
      const res = await client(app().app, user)('GET', url);
      expect(res.statusCode, url).toBe(403);
      expect(res.json().code).toBe('mfa_required');
      expect(res.body).not.toContain(title);
    }
  });

  it('the role is read fresh: a user promoted since the token was signed reads as an admin, a demoted admin as a user', async () => {
    const { id, title } = await userWithDoc(app());
    const promoted = await createUserWithToken(app().app); // its token says role "user"
    await sql()`update users set role = 'admin' where id = ${promoted.id}`;
    const asPromoted = client(app().app, promoted);
    expect((await asPromoted('GET', `/documents/${id}`)).json()).toMatchObject({ id, title });
    expect((await asPromoted('GET', '/documents?limit=200')).json().data.map((d: { id: string }) => d.id)).toContain(id);
    expect((await asPromoted('GET', `/documents/search?q=${wordOf(title)}`)).json().data.map((d: { id: string }) => d.id)).toEqual([id]);

    const demoted = await createUserWithToken(app().app, { role: 'admin' }); // its token says role "admin"
    await sql()`update users set role = 'user' where id = ${demoted.id}`;
    const asDemoted = client(app().app, demoted);
    expect((await asDemoted('GET', `/documents/${id}`)).statusCode).toBe(404);
    expect((await asDemoted('GET', '/documents?limit=200')).json().data).toEqual([]);
    expect((await asDemoted('GET', `/documents/search?q=${wordOf(title)}`)).json().data).toEqual([]);
    expect((await asDemoted('GET', '/documents?limit=200&count=exact')).json().total).toBe(0);
  });

  it('the PostgREST read (/rest/v1) carries it too: rows for a live session, its own 401 shape for a dead one', async () => {
    const { user, id, title } = await userWithDoc(app());
    const rest = (query: string) => app().app.inject({ method: 'GET', url: `/rest/v1/documents${query}`, headers: { ...user.headers, apikey: ANON_KEY } });
    const live = await rest('?select=id,title');
    expect(live.statusCode).toBe(200);
    expect(live.json()).toEqual([{ id, title }]);
    await revoke(user);
    for (const query of ['?select=id,title', `?select=*&id=eq.${randomUUID()}`, '?select=id&order=title.desc']) {
      const dead = await rest(query);
      expect(dead.statusCode, query).toBe(401);
      expect(dead.json()).toMatchObject({ code: 'PGRST301' });
      expect(dead.body).not.toContain(title);
    }
  });
});

// The signed-in user's own read carries the check too: GET /api/v1/auth/me and supabase-js's
// getUser (GET /auth/v1/user), each in its surface's error shape.
describe.each([
  ['primary only', () => t],
  ['with a read replica', () => replica],
])('the user read with the session check carried (%s)', (_name, app) => {
  const me = (u: TestUser) => app().app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: u.headers });
  const getUser = (u: TestUser) => app().app.inject({ method: 'GET', url: '/auth/v1/user', headers: { ...u.headers, apikey: ANON_KEY } });
  const expectSessionNotFound = (res: { statusCode: number; body: string }, email: string) => {
    expect(res.statusCode, res.body).toBe(403);
    expect(JSON.parse(res.body)).toMatchObject({ error_code: 'session_not_found' });
    expect(res.body).not.toContain(email);
  };

  it('a live session reads itself; a revoked or expired one, or a disabled user, does not', async () => {
    const live = await createUserWithToken(app().app);
    expect((await me(live)).json()).toMatchObject({ id: live.id, email: live.email });
    expect((await getUser(live)).json()).toMatchObject({ id: live.id, email: live.email });

    const revoked = await createUserWithToken(app().app);
    await revoke(revoked);
    expectInvalidToken(await me(revoked), revoked.email);
    expectSessionNotFound(await getUser(revoked), revoked.email);

    const expired = await createUserWithToken(app().app);
    await sql()`update sessions set expires_at = now() - interval '1 second' where id = ${expired.sessionId}`;
    expectInvalidToken(await me(expired), expired.email);
    expectSessionNotFound(await getUser(expired), expired.email);

    const disabled = await createUserWithToken(app().app);
    await sql()`update users set disabled_at = now() where id = ${disabled.id}`;
    expectInvalidToken(await me(disabled), disabled.email);
    expectSessionNotFound(await getUser(disabled), disabled.email);
  });

  it('a user with a verified second factor on an aal1 session: /me answers mfa_required, getUser (aal1 allowed) answers with the factor', async () => {
    const user = await createUserWithToken(app().app);
    await sql()`insert into mfa_factors (user_id, status, secret_ciphertext, secret_key_id, verified_at) values (${user.id}, 'verified', 'x', 'k', now())`;
    const res = await me(user);
    expect(res.statusCode, res.body).toBe(403);
    expect(res.json().code).toBe('mfa_required');
    expect(res.body).not.toContain(user.email);
    const gotrue = await getUser(user);
    expect(gotrue.statusCode, gotrue.body).toBe(200);
    expect(gotrue.json().factors).toHaveLength(1);
  });

  it('a role changed since the token was signed is read fresh', async () => {
    const user = await createUserWithToken(app().app);
    await sql()`update users set role = 'admin' where id = ${user.id}`;
    expect((await me(user)).json()).toMatchObject({ id: user.id, role: 'admin' });
  });
});
