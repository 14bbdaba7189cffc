import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestApp } from '../../helpers/app.js';
import { client, dataApp, newDoc, type Client } from '../../helpers/data.js';
import { createUserWithToken, type TestUser } from '../../helpers/users.js';

let t: TestApp;
let alice: TestUser;
let api: Client;

beforeAll(async () => void ({ t, alice, api } = await dataApp()));
afterAll(() => t.close());

const newDocument = async () => (await api('POST', '/documents', newDoc())).json() as { id: string; updated_at: string };
const analysisCount = async (id: string) => (await api('GET', `/documents/${id}`)).json().analysis_count as number;

describe('analyses', () => {
  it('create → 201 with the document owner as owner, cost_usd as an exact string', async () => {
    const doc = await newDocument();
    const res = await api('POST', `/documents/${doc.id}/analyses`, {
      kind: 'summary', model: 'claude-x', status: 'succeeded', result: { summary: 'ok', items: [1, 2] }, tokens_used: 1234, cost_usd: '0.012345', duration_ms: 850,
    });
    expect(res.statusCode).toBe(201);
    const a = res.json();
    expect(a).toMatchObject({ document_id: doc.id, owner_id: alice.id, kind: 'summary', cost_usd: '0.012345', result: { summary: 'ok', items: [1, 2] }, tokens_used: 1234 });
    expect(res.headers.location).toBe(`/api/v1/analyses/${a.id}`);
    expect((await api('GET', `/analyses/${a.id}`)).json()).toEqual(a);
  });

  it('cost_usd: decimal strings and plain numbers are stored exactly; more precision or exponents → 400', async () => {
    const doc = await newDocument();
    const make = (cost_usd: unknown) => api('POST', `/documents/${doc.id}/analyses`, { kind: 'risks', cost_usd });
    expect((await make('99999999.999999')).json().cost_usd).toBe('99999999.999999');
    expect((await make(0.1)).json().cost_usd).toBe('0.100000');
    expect((await make('3')).json().cost_usd).toBe('3.000000');
    expect((await make(null)).json().cost_usd).toBeNull();
    for (const bad of ['0.0000001', '1e-7', 1e-7, '-1', -1, '123456789', 'abc', '1.2.3', '', ' 1']) {
      const res = await make(bad);
      expect(res.statusCode, JSON.stringify(bad)).toBe(400);
    }
  });

  it('analysis_count follows creates and deletes (trigger), including raw SQL and cascades', async () => {
    const doc = await newDocument();
    const ids: string[] = [];
    for (const kind of ['summary', 'risks', 'action_items']) ids.push((await api('POST', `/documents/${doc.id}/analyses`, { kind })).json().id);
    expect(await analysisCount(doc.id)).toBe(3);
    expect((await api('DELETE', `/analyses/${ids[0]}`)).statusCode).toBe(204);
    expect(await analysisCount(doc.id)).toBe(2);
    const other = await newDocument();
    await t.testDb.sql`update analyses set document_id = ${other.id} where id = ${ids[1]!}`;
    expect(await analysisCount(doc.id)).toBe(1);
    expect(await analysisCount(other.id)).toBe(1);
    expect((await api('DELETE', `/documents/${other.id}`)).statusCode).toBe(204);
    expect((await api('GET', `/analyses/${ids[1]}`)).statusCode).toBe(404); // cascaded
  });

  it('list: newest first by default, keyset pages, filters by status and kind', async () => {
    const doc = await newDocument();
    for (let i = 0; i < 7; i++) await api('POST', `/documents/${doc.id}/analyses`, { kind: i % 2 ? 'risks' : 'summary', status: i < 3 ? 'pending' : 'succeeded' });
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const res = await api('GET', `/documents/${doc.id}/analyses?limit=3${cursor ? `&cursor=${cursor}` : ''}`);
      expect(res.statusCode).toBe(200);
      seen.push(...res.json().data.map((a: { id: string }) => a.id));
      cursor = res.json().next_cursor;
    } while (cursor);
    expect(new Set(seen).size).toBe(7);
    const all = (await api('GET', `/documents/${doc.id}/analyses?sort=created_at`)).json().data as { id: string }[];
    expect(all.map((a) => a.id)).toEqual([...seen].reverse());
    expect((await api('GET', `/documents/${doc.id}/analyses?status=pending`)).json().data).toHaveLength(3);
    expect((await api('GET', `/documents/${doc.id}/analyses?kind=risks`)).json().data).toHaveLength(3);
    expect((await api('GET', `/documents/${randomUUID()}/analyses`)).statusCode).toBe(404);
  });

  it('PATCH updates given fields and updated_at; kind and status are validated', async () => {
    const doc = await newDocument();
    const a = (await api('POST', `/documents/${doc.id}/analyses`, { kind: 'custom' })).json();
    const res = await api('PATCH', `/analyses/${a.id}`, { status: 'failed', error: 'model timeout', duration_ms: 30000 });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ status: 'failed', error: 'model timeout', duration_ms: 30000, kind: 'custom' });
    expect(Date.parse(res.json().updated_at)).toBeGreaterThan(Date.parse(a.updated_at));
    expect((await api('PATCH', `/analyses/${a.id}`, { status: 'done' })).statusCode).toBe(400);
    expect((await api('PATCH', `/analyses/${a.id}`, { document_id: randomUUID() })).statusCode).toBe(400);
    expect((await api('PATCH', `/analyses/${a.id}`, { owner_id: randomUUID() })).statusCode).toBe(400);
    expect((await api('PATCH', `/analyses/${a.id}`, {})).statusCode).toBe(400);
    expect((await api('POST', `/documents/${doc.id}/analyses`, { kind: 'poem' })).statusCode).toBe(400);
    expect((await api('POST', `/documents/${doc.id}/analyses`, { kind: 'summary', tokens_used: -1 })).statusCode).toBe(400);
  });

  it('an admin may attach an analysis to any document; it belongs to the document owner, the admin is the audited actor', async () => {
    const doc = await newDocument();
    const admin = await createUserWithToken(t.app, { role: 'admin' });
    const res = await client(t.app, admin)('POST', `/documents/${doc.id}/analyses`, { kind: 'classification' });
    expect(res.statusCode).toBe(201);
    expect(res.json().owner_id).toBe(alice.id);
    expect((await api('GET', `/analyses/${res.json().id}`)).statusCode).toBe(200);
    const [row] = await t.testDb.sql`select actor_id from audit_logs where entity_id = ${res.json().id} and action = 'analysis.create'`;
    expect(row!.actor_id).toBe(admin.id);
  });
});
