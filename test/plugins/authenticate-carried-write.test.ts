import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTracing, type Tracing } from '../../src/observability/start.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { client, newDoc } from '../helpers/data.js';
import { createUserWithToken, type TestUser } from '../helpers/users.js';

// POST /documents carries the session check in its INSERT (plugins/authenticate.ts,
// carrySessionCheckInCreate; resources/create-statement.ts): the row is selected from the
// check's state under the write gate (features/auth/session-write-check.ts), so a session
// that may not write inserts nothing. Whatever path a create takes, a dead session, a disabled
// user and an MFA user on an aal1 session get the status and code the separate check gave,
// and nothing is written: no document, no audit row.

const exporter = new InMemorySpanExporter();
let tracing: Tracing | null;
let t: TestApp;
let replica: TestApp;
beforeAll(async () => {
  tracing = await startTracing({ tracesUrl: null, headers: {}, serviceName: 'offbase-test', sampler: 'always_on', samplerRatio: 1 }, { exporter });
  t = await buildTestApp();
  // With a read replica the reads check first; the create still carries it (it runs on the primary).
  replica = await buildTestApp({ DATABASE_READ_URL: t.testDb.appUrl }, { testDb: t.testDb });
});
afterAll(async () => {
  await replica?.close();
  await t?.close();
  await tracing?.shutdown();
});

const sql = () => t.testDb.sql;
const written = async (user: TestUser) => {
  const [row] = await sql()<{ docs: number; audits: number }[]>`
    select (select count(*)::int from documents where owner_id = ${user.id}) as docs,
           (select count(*)::int from audit_logs where actor_id = ${user.id}) as audits`;
  return row!;
};
const sqlSpans = () => exporter.getFinishedSpans().filter((s) => s.attributes['db.system.name'] === 'postgresql');

function expectRefused(res: { statusCode: number; body: string }, status: number, code: string) {
  expect(res.statusCode, res.body).toBe(status);
  expect(JSON.parse(res.body).code).toBe(code);
}

describe.each([
  ['primary only', () => t],
  ['with a read replica', () => replica],
])('POST /documents with the session check carried (%s)', (_name, app) => {
  it('a live session creates in one statement: the row, its one audit row, the check in the same statement', async () => {
    const user = await createUserWithToken(app().app);
    exporter.reset();
    const doc = newDoc({ tags: ['a'], metadata: { pages: 3 } });
    const res = await client(app().app, user)('POST', '/documents', doc);
    expect(res.statusCode, res.body).toBe(201);
    expect(res.json()).toMatchObject({ title: doc.title, owner_id: user.id, tags: ['a'], metadata: { pages: 3 } });
    expect(res.headers.etag).toBeDefined();
    const statements = sqlSpans();
    expect(statements, statements.map((s) => s.name).join(', ')).toHaveLength(1);
    expect(String(statements[0]!.attributes['db.query.text'])).toMatch(/from "sessions"/);
    expect(exporter.getFinishedSpans().map((s) => s.name)).not.toContain('auth.session_check');
    expect(await written(user)).toEqual({ docs: 1, audits: 1 });
    const [audit] = await sql()`select action, entity_id, changes from audit_logs where actor_id = ${user.id}`;
    expect(audit).toMatchObject({ action: 'document.create', entity_id: res.json().id });
    expect(audit!.changes.title).toEqual({ before: null, after: doc.title });
  });

  it('revoked, expired, a disabled user, another user’s session: 401 and nothing written', async () => {
    const cases: [string, (u: TestUser) => Promise<unknown>][] = [
      ['revoked', (u) => sql()`update sessions set revoked_at = now() where id = ${u.sessionId}`],
      ['expired', (u) => sql()`update sessions set expires_at = now() - interval '1 second' where id = ${u.sessionId}`],
      ['disabled', (u) => sql()`update users set disabled_at = now() where id = ${u.id}`],
    ];
    for (const [name, kill] of cases) {
      const user = await createUserWithToken(app().app);
      await kill(user);
      const api = client(app().app, user);
      expectRefused(await api('POST', '/documents', newDoc()), 401, 'invalid_token');
      // Also with a secret-looking metadata key (the JavaScript-audit path) and an invalid body.
      expectRefused(await api('POST', '/documents', newDoc({ metadata: { api_token: 'x' } })), 401, 'invalid_token');
      expectRefused(await api('POST', '/documents', { title: '' }), 401, 'invalid_token');
      expect(await written(user), name).toEqual({ docs: 0, audits: 0 });
    }
    // A token whose sid is someone else's live session.
    const owner = await createUserWithToken(app().app);
    const thief = await createUserWithToken(app().app);
    const forged = app().app.jwt.sign({ sub: thief.id, role: 'user', email: thief.email, sid: owner.sessionId });
    const res = await app().app.inject({ method: 'POST', url: '/api/v1/documents', headers: { authorization: `Bearer ${forged}` }, payload: newDoc() });
    expectRefused(res, 401, 'invalid_token');
    expect(await written(thief)).toEqual({ docs: 0, audits: 0 });
    expect(await written(owner)).toEqual({ docs: 0, audits: 0 });
  });

  it('a user with a verified second factor: mfa_required and nothing written on aal1, the create on aal2', async () => {
    const user = await createUserWithToken(app().app);
    await sql()`insert into mfa_factors (user_id, status, secret_ciphertext, secret_key_id, verified_at) values (${user.id}, 'verified', 'x', 'k', now())`;
    const api = client(app().app, user);
    expectRefused(await api('POST', '/documents', newDoc()), 403, 'mfa_required');
    expectRefused(await api('POST', '/documents', newDoc({ metadata: { password: 'x' } })), 403, 'mfa_required');
    expect(await written(user)).toEqual({ docs: 0, audits: 0 });
    // The session's own aal counts (the token's claim is not trusted for it).
    await sql()`update sessions set aal = 'aal2' where id = ${user.sessionId}`;
    expect((await api('POST', '/documents', newDoc())).statusCode).toBe(201);
    expect(await written(user)).toEqual({ docs: 1, audits: 1 });
    // An unverified factor does not gate.
    const other = await createUserWithToken(app().app);
    await sql()`insert into mfa_factors (user_id, status, secret_ciphertext, secret_key_id) values (${other.id}, 'unverified', 'x', 'k')`;
    expect((await client(app().app, other)('POST', '/documents', newDoc())).statusCode).toBe(201);
  });

  it('a duplicate is a 409 for a live session and a 401 for a dead one; nothing more is written', async () => {
    const user = await createUserWithToken(app().app);
    const api = client(app().app, user);
    const doc = newDoc();
    expect((await api('POST', '/documents', doc)).statusCode).toBe(201);
    expectRefused(await api('POST', '/documents', doc), 409, 'conflict');
    expect(await written(user)).toEqual({ docs: 1, audits: 1 });
    await sql()`update sessions set revoked_at = now() where id = ${user.sessionId}`;
    expectRefused(await api('POST', '/documents', doc), 401, 'invalid_token');
    expect(await written(user)).toEqual({ docs: 1, audits: 1 });
  });

  it('a live session’s invalid body is its 400; a secret-looking metadata key is scrubbed from the trail', async () => {
    const user = await createUserWithToken(app().app);
    const api = client(app().app, user);
    expectRefused(await api('POST', '/documents', { title: '' }), 400, 'validation_failed');
    // NUL in text: PostgreSQL refuses it inside the carrying statement; the check settles before the 400.
    expectRefused(await api('POST', '/documents', newDoc({ description: 'a\u0000b' })), 400, 'validation_failed');
    const res = await api('POST', '/documents', newDoc({ metadata: { api_token: 'secret', pages: 2 } }));
    expect(res.statusCode, res.body).toBe(201);
    const [audit] = await sql()`select changes from audit_logs where actor_id = ${user.id}`;
    expect(audit!.changes.metadata.after).toEqual({ pages: 2 });
    expect(await written(user)).toEqual({ docs: 1, audits: 1 });
  });

  it('the role is read fresh: a user promoted since the token was signed creates as themself', async () => {
    const user = await createUserWithToken(app().app);
    await sql()`update users set role = 'admin' where id = ${user.id}`;
    const res = await client(app().app, user)('POST', '/documents', newDoc());
    expect(res.statusCode).toBe(201);
    expect(res.json().owner_id).toBe(user.id);
    const admin = await createUserWithToken(app().app, { role: 'admin' });
    expect((await client(app().app, admin)('POST', '/documents', newDoc())).statusCode).toBe(201);
    await sql()`update sessions set revoked_at = now() where id = ${admin.sessionId}`;
    expectRefused(await client(app().app, admin)('POST', '/documents', newDoc()), 401, 'invalid_token');
  });
});
