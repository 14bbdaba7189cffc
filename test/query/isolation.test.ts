import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { client, newDoc, type Client } from '../helpers/data.js';
import { createUserWithToken, type TestUser } from '../helpers/users.js';

let t: TestApp;
let alice: TestUser;
let bob: TestUser;
let asAlice: Client;
let asBob: Client;
let aliceDocs: { id: string; s3_bucket: string; s3_key: string }[];
let aliceAnalyses: string[];
let aliceEtag: string;

// A's rows as PostgreSQL sees them, every column, as text: compared before and after.
const snapshot = async (owner: string) => ({
  documents: await t.testDb.sql`select d::text as row, xmin::text as xmin from documents d where owner_id = ${owner} order by id`,
  analyses: await t.testDb.sql`select a::text as row, xmin::text as xmin from analyses a where owner_id = ${owner} order by id`,
  audit: await t.testDb.sql`select l::text as row from audit_logs l where actor_id = ${owner} order by id`,
});

beforeAll(async () => {
  t = await buildTestApp();
  alice = await createUserWithToken(t.app);
  bob = await createUserWithToken(t.app);
  asAlice = client(t.app, alice);
  asBob = client(t.app, bob);
  aliceDocs = [];
  aliceAnalyses = [];
  for (let i = 0; i < 3; i++) {
    const res = await asAlice('POST', '/documents', newDoc({ title: `alice zanzibar ${i}`, content_text: 'alice private quokka text', tags: ['alice'] }));
    aliceDocs.push(res.json());
    aliceEtag = res.headers.etag as string;
    aliceAnalyses.push((await asAlice('POST', `/documents/${res.json().id}/analyses`, { kind: 'summary', result: { secret: true } })).json().id);
  }
  aliceEtag = (await asAlice('GET', `/documents/${aliceDocs[2]!.id}`)).headers.etag as string;
});
afterAll(() => t.close());

describe('cross-tenant isolation', () => {
  it("user B gets 404 for every route and method on A's rows, exactly as for ids that do not exist, and A's rows are unchanged", async () => {
    const before = await snapshot(alice.id);
    const doc = aliceDocs[2]!;
    const analysis = aliceAnalyses[2]!;
    const missing = randomUUID();

    const probes: [string, string, unknown?, Record<string, string>?][] = [
      ['GET', `/documents/${doc.id}`],
      ['GET', `/documents/${doc.id}`, undefined, { 'if-none-match': aliceEtag }],
      ['PATCH', `/documents/${doc.id}`, { title: 'pwned' }],
      ['PATCH', `/documents/${doc.id}`, { title: 'pwned' }, { 'if-match': aliceEtag }],
      ['PATCH', `/documents/${doc.id}`, { title: 'pwned' }, { 'if-match': '*' }],
      ['DELETE', `/documents/${doc.id}`],
      ['DELETE', `/documents/${doc.id}`, undefined, { 'if-match': aliceEtag }],
      ['POST', `/documents/${doc.id}/analyses`, { kind: 'risks' }],
      ['GET', `/documents/${doc.id}/analyses`],
      ['GET', `/analyses/${analysis}`],
      ['PATCH', `/analyses/${analysis}`, { status: 'failed' }],
      ['DELETE', `/analyses/${analysis}`],
    ];
    for (const [method, url, payload, headers] of probes) {
      const res = await asBob(method as 'GET', url, payload, headers);
      expect(res.statusCode, `${method} ${url}`).toBe(404);
      // Indistinguishable from an id that does not exist.
      const ghost = await asBob(method as 'GET', url.replace(doc.id, missing).replace(analysis, missing), payload, headers);
      expect(ghost.statusCode).toBe(404);
      const { request_id: _a, ...body } = res.json();
      const { request_id: _b, ...ghostBody } = ghost.json();
      expect(body).toEqual(ghostBody);
    }

    // Lists, counts, search and the audit trail show B nothing of A's.
    expect((await asBob('GET', '/documents?limit=200')).json().data).toEqual([]);
    expect((await asBob('GET', `/documents?owner_id=${alice.id}`)).json()).toEqual({ data: [], next_cursor: null });
    expect((await asBob('GET', '/documents?count=exact&tag=alice')).json().total).toBe(0);
    expect((await asBob('GET', `/documents/count?owner_id=${alice.id}`)).json()).toEqual({ count: 0 });
    expect((await asBob('GET', '/documents/search?q=zanzibar')).json().data).toEqual([]);
    expect((await asBob('GET', '/documents/search?q=quokka')).json().data).toEqual([]);
    expect((await asBob('GET', `/audit-logs?entity_id=${doc.id}`)).json().data).toEqual([]);
    expect((await asBob('GET', `/audit-logs?actor_id=${alice.id}`)).json().data).toEqual([]);

    // Writing with A's S3 keys lands in B's own namespace, never over A's rows.
    const put = await asBob('PUT', '/documents', { s3_bucket: doc.s3_bucket, s3_key: doc.s3_key, title: 'bob put' });
    expect(put.statusCode).toBe(201);
    expect(put.json().owner_id).toBe(bob.id);
    const batch = await asBob('POST', '/documents/batch', { documents: aliceDocs.slice(0, 2).map((d) => ({ s3_bucket: d.s3_bucket, s3_key: d.s3_key, title: 'bob batch' })) });
    expect(batch.statusCode).toBe(201);
    const post = await asBob('POST', '/documents', { s3_bucket: aliceDocs[0]!.s3_bucket, s3_key: aliceDocs[0]!.s3_key, title: 'dup' });
    expect(post.statusCode).toBe(409); // B's own batch row, not A's
    // A body cannot name an owner.
    expect((await asBob('POST', '/documents', newDoc({ owner_id: alice.id }))).statusCode).toBe(400);
    expect((await asBob('PATCH', `/documents/${put.json().id}`, { owner_id: alice.id })).statusCode).toBe(400);

    expect(await snapshot(alice.id)).toEqual(before);
    expect((await asAlice('GET', '/documents/count')).json().count).toBe(3);
  });

  it("an admin reads and changes A's rows; a demoted admin immediately loses that", async () => {
    const admin = await createUserWithToken(t.app, { role: 'admin' });
    const asAdmin = client(t.app, admin);
    const doc = aliceDocs[0]!;
    expect((await asAdmin('GET', `/documents/${doc.id}`)).json().content_text).toBe('alice private quokka text');
    expect((await asAdmin('GET', `/analyses/${aliceAnalyses[0]}`)).statusCode).toBe(200);
    expect((await asAdmin('GET', `/documents/${doc.id}/analyses`)).json().data).toHaveLength(1);
    expect((await asAdmin('PATCH', `/analyses/${aliceAnalyses[0]}`, { status: 'running' })).statusCode).toBe(200);
    const patched = await asAdmin('PATCH', `/documents/${doc.id}`, { status: 'ready' });
    expect(patched.statusCode).toBe(200);
    expect(patched.json().owner_id).toBe(alice.id);

    await t.testDb.sql`update users set role = 'user' where id = ${admin.id}`;
    expect((await asAdmin('GET', `/documents/${doc.id}`)).statusCode).toBe(404);
    expect((await asAdmin('PATCH', `/documents/${doc.id}`, { status: 'failed' })).statusCode).toBe(404);
    expect((await asAlice('GET', `/documents/${doc.id}`)).json().status).toBe('ready');
  });
});
