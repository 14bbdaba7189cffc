import { get } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../../helpers/app.js';
import { registerUser, type RegisteredUser } from '../../helpers/auth.js';
import { insertLargeDocuments } from '../../helpers/data.js';
import { exposeGc } from '../../helpers/supabase-source.js';

let t: TestApp;
let alice: RegisteredUser;
let bob: RegisteredUser;

beforeAll(async () => {
  t = await buildTestApp();
  alice = await registerUser(t.app, { full_name: 'Alice' });
  bob = await registerUser(t.app, { full_name: 'Bob' });
  for (const [user, title] of [
    [alice, 'alice-doc'],
    [bob, 'bob-doc'],
  ] as const) {
    const doc = await t.app.inject({ method: 'POST', url: '/api/v1/documents', headers: user.headers, payload: { title, s3_bucket: 'b', s3_key: `${title}.pdf`, content_text: `${title} text`, metadata: { __proto__x: 1 } } });
    expect(doc.statusCode).toBe(201);
    const a = await t.app.inject({ method: 'POST', url: `/api/v1/documents/${doc.json().id}/analyses`, headers: user.headers, payload: { kind: 'summary' } });
    expect(a.statusCode).toBe(201);
  }
});
afterAll(async () => {
  await t?.close();
});

const exportOf = (user: RegisteredUser) => t.app.inject({ method: 'GET', url: '/api/v1/auth/me/export', headers: user.headers });

describe('GET /api/v1/auth/me/export', () => {
  it('is the user’s profile, documents with text, analyses, sessions and own audit rows, and nothing of anyone else', async () => {
    const res = await exportOf(alice);
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.headers['content-disposition']).toMatch(/attachment/);
    expect(res.headers['cache-control']).toBe('no-store');
    const body = res.json();
    expect(body.format).toBe('offbase.account_export.v1');
    expect(body.user).toMatchObject({ id: alice.id, email: alice.email, full_name: 'Alice' });
    expect(body.user.created_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    expect(body.documents.map((d: { title: string }) => d.title)).toEqual(['alice-doc']);
    expect(body.documents[0].content_text).toBe('alice-doc text');
    expect(body.documents[0]).not.toHaveProperty('search');
    expect(body.analyses).toHaveLength(1);
    expect(body.analyses[0].document_id).toBe(body.documents[0].id);
    expect(body.sessions.map((s: { id: string }) => s.id)).toEqual([alice.sessionId]);
    const actions = body.audit_logs.map((a: { action: string }) => a.action);
    expect(actions).toEqual(expect.arrayContaining(['auth.register', 'document.create', 'analysis.create']));
    expect(body.audit_logs.every((a: { actor_id: string }) => a.actor_id === alice.id)).toBe(true);
    // Nothing of Bob's, and no secret of Alice's.
    expect(res.body).not.toContain(bob.id);
    expect(res.body).not.toContain('bob-doc');
    expect(res.body).not.toContain(alice.refreshToken);
    expect(res.body).not.toMatch(/\$argon2|password_hash|token_hash/);
  });

  it('is audited, and needs a signed-in user', async () => {
    await exportOf(bob);
    const [row] = await t.testDb.sql`select count(*)::int as n from audit_logs where actor_id = ${bob.id} and action = 'auth.account_export'`;
    expect(row!.n).toBeGreaterThanOrEqual(1);
    expect((await t.app.inject({ method: 'GET', url: '/api/v1/auth/me/export' })).statusCode).toBe(401);
  });

  it('refuses a deleted account’s token', async () => {
    const carol = await registerUser(t.app);
    const del = await t.app.inject({ method: 'DELETE', url: '/api/v1/auth/me', headers: carol.headers, payload: { password: carol.password } });
    expect(del.statusCode).toBe(204);
    expect((await exportOf(carol)).statusCode).toBe(401);
  });
});

describe('a large account', () => {
  const gc = exposeGc();
  const DOCS = 3000;
  const TEXT_BYTES = 6_000; // 18 MB of document text

  it('streams with the live heap flat, far below the size of what went out, and returns its connection', async () => {
    const big = await registerUser(t.app);
    await insertLargeDocuments(t.testDb.sql, big.id, DOCS, TEXT_BYTES);
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = t.app.server.address() as AddressInfo;
    gc();
    const base = process.memoryUsage().heapUsed;
    let peak = 0;
    let bytes = 0;
    let docs = 0;
    let chunks = 0;
    let tail = '';
    await new Promise<void>((resolve, reject) => {
      get({ host: '127.0.0.1', port, path: '/api/v1/auth/me/export', headers: big.headers }, (res) => {
        expect(res.statusCode).toBe(200);
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          bytes += chunk.length;
          // Count documents across chunk borders without keeping the body.
          const text = tail + chunk;
          docs += text.split('"content_text":').length - 1;
          tail = text.slice(-20);
          if (++chunks % 400 === 0) {
            gc();
            peak = Math.max(peak, process.memoryUsage().heapUsed - base);
          }
        });
        res.on('end', resolve);
        res.on('error', reject);
      }).on('error', reject);
    });
    expect(docs).toBe(DOCS);
    expect(bytes).toBeGreaterThan(DOCS * TEXT_BYTES);
    // What stays live is a few MB (one FETCH batch plus stream buffers), not the 18 MB sent.
    expect(peak).toBeLessThan(8 * 1024 * 1024);
    // The reserved connection went back to the pool: no transaction is left open.
    const open = await t.testDb.sql`select count(*)::int as n from pg_stat_activity where state like 'idle in transaction%' and datname = current_database()`;
    expect(open[0]!.n).toBe(0);
  }, 120_000);
});
