import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestApp } from '../../helpers/app.js';
import { client, dataApp, newDoc, type Client } from '../../helpers/data.js';
import { createUserWithToken, type TestUser } from '../../helpers/users.js';

let t: TestApp;
let alice: TestUser;
let api: Client;

beforeAll(async () => void ({ t, alice, api } = await dataApp()));
afterAll(() => t.close());

interface AuditRow {
  id: number;
  actor_id: string | null;
  action: string;
  entity_type: string;
  entity_id: string | null;
  request_id: string | null;
  ip: string | null;
  user_agent: string | null;
  changes: Record<string, { before: unknown; after: unknown }> | null;
}
const rowsFor = async (entityId: string) => (await t.testDb.sql`select * from audit_logs where entity_id = ${entityId} order by id`) as unknown as AuditRow[];
const auditCount = async () => (await t.testDb.sql`select count(*)::int as n from audit_logs`)[0]!.n as number;

describe('audit trail', () => {
  it('every document and analysis write records who, what, which request and the changed fields', async () => {
    const created = await api('POST', '/documents', newDoc({ title: 'v1', content_text: 'secret body' }), { 'user-agent': 'audit-test/1.0' });
    const doc = created.json();
    await api('PATCH', `/documents/${doc.id}`, { title: 'v2', tags: ['x'] });
    await api('PUT', '/documents', { s3_bucket: doc.s3_bucket, s3_key: doc.s3_key, title: 'v3' });
    const analysis = (await api('POST', `/documents/${doc.id}/analyses`, { kind: 'summary' })).json();
    await api('PATCH', `/analyses/${analysis.id}`, { status: 'succeeded', cost_usd: '0.5' });
    await api('DELETE', `/analyses/${analysis.id}`);
    await api('DELETE', `/documents/${doc.id}`);

    const docRows = await rowsFor(doc.id);
    expect(docRows.map((r) => r.action)).toEqual(['document.create', 'document.update', 'document.upsert', 'document.delete']);
    expect(docRows.every((r) => r.actor_id === alice.id && r.entity_type === 'document')).toBe(true);
    const [create, update, upsert, del] = docRows;
    expect(create!.request_id).toBe(created.headers['x-request-id']);
    expect(create!.user_agent).toBe('audit-test/1.0');
    expect(create!.ip).toBeTruthy();
    expect(create!.changes!.title).toEqual({ before: null, after: 'v1' });
    // The extracted text is summarised, never copied into the trail.
    expect(create!.changes!.content_text!.after).toEqual({ bytes: 11, sha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(JSON.stringify(docRows)).not.toContain('secret body');
    expect(update!.changes).toEqual({ title: { before: 'v1', after: 'v2' }, tags: { before: [], after: ['x'] } });
    expect(upsert!.changes).toEqual({ title: { before: 'v2', after: 'v3' } });
    expect(del!.changes!.title).toEqual({ before: 'v3', after: null });

    const aRows = await rowsFor(analysis.id);
    expect(aRows.map((r) => r.action)).toEqual(['analysis.create', 'analysis.update', 'analysis.delete']);
    expect(aRows[1]!.changes).toEqual({ status: { before: 'pending', after: 'succeeded' }, cost_usd: { before: null, after: '0.500000' } });
  });

  it('failed writes leave no audit row', async () => {
    const doc = (await api('POST', '/documents', newDoc())).json();
    const before = await auditCount();
    expect((await api('POST', '/documents', { ...newDoc(), s3_key: doc.s3_key })).statusCode).toBe(409);
    expect((await api('PATCH', `/documents/${doc.id}`, { title: 'x' }, { 'if-match': '"00000000000000000000000000000000"' })).statusCode).toBe(412);
    expect((await api('DELETE', `/documents/${doc.id}`, undefined, { 'if-match': '"00000000000000000000000000000000"' })).statusCode).toBe(412);
    expect((await api('PATCH', `/documents/${doc.id}`, { title: '' })).statusCode).toBe(400);
    expect((await api('POST', '/documents/batch', { documents: [newDoc(), { ...newDoc(), s3_key: doc.s3_key }] })).statusCode).toBe(409);
    expect(await auditCount()).toBe(before);
  });

  it('the audit row shares the write transaction: when the audit insert fails, the write is rolled back', async () => {
    await t.testDb.sql.unsafe(`
      create function test_fail_audit() returns trigger language plpgsql as $$ begin raise exception 'audit store down'; end $$;
      create trigger test_fail_audit before insert on audit_logs for each row
        when (new.changes -> 'title' ->> 'after' = 'doomed' or new.changes -> 'status' ->> 'after' = 'archived')
        execute function test_fail_audit();`);
    try {
      const body = newDoc({ title: 'doomed' });
      expect((await api('POST', '/documents', body)).statusCode).toBe(500);
      expect(await t.testDb.sql`select 1 from documents where s3_key = ${body.s3_key}`).toHaveLength(0);
      const doc = (await api('POST', '/documents', newDoc())).json();
      expect((await api('PATCH', `/documents/${doc.id}`, { status: 'archived' })).statusCode).toBe(500);
      expect((await api('GET', `/documents/${doc.id}`)).json().status).toBe('uploaded');
      expect((await api('POST', '/documents/batch', { documents: [newDoc(), newDoc({ title: 'doomed' })] })).statusCode).toBe(500);
      expect((await t.testDb.sql`select count(*)::int as n from documents where title = 'doomed'`)[0]!.n).toBe(0);
    } finally {
      await t.testDb.sql.unsafe('drop trigger test_fail_audit on audit_logs; drop function test_fail_audit();');
    }
  });

  it('audit_logs refuses UPDATE, DELETE and TRUNCATE, even as raw SQL on the app connection', async () => {
    await api('POST', '/documents', newDoc());
    const before = await t.testDb.sql`select * from audit_logs order by id`;
    for (const db of [t.database.sql, t.testDb.sql]) {
      await expect(db`update audit_logs set action = 'forged'`).rejects.toMatchObject({ code: '42501' });
      await expect(db`delete from audit_logs`).rejects.toMatchObject({ code: '42501' });
      await expect(db`truncate audit_logs`).rejects.toMatchObject({ code: '42501' });
    }
    expect(await t.testDb.sql`select * from audit_logs order by id`).toEqual(before);
  });

  it('an admin changing a user document is audited with the admin as actor', async () => {
    const doc = (await api('POST', '/documents', newDoc())).json();
    const admin = await createUserWithToken(t.app, { role: 'admin' });
    const asAdmin = client(t.app, admin);
    expect((await asAdmin('PATCH', `/documents/${doc.id}`, { status: 'archived' })).statusCode).toBe(200);
    expect((await asAdmin('DELETE', `/documents/${doc.id}`)).statusCode).toBe(204);
    const rows = await rowsFor(doc.id);
    expect(rows.map((r) => [r.action, r.actor_id])).toEqual([
      ['document.create', alice.id],
      ['document.update', admin.id],
      ['document.delete', admin.id],
    ]);
  });
});

describe('GET /audit-logs', () => {
  it("newest first, own actions only, filters, keyset pages; admins see everyone's and filter by actor_id", async () => {
    const user = await createUserWithToken(t.app);
    const me = client(t.app, user);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await me('POST', '/documents', newDoc())).json().id);
    await me('PATCH', `/documents/${ids[0]}`, { title: 'changed' });

    const all = (await me('GET', '/audit-logs')).json().data as AuditRow[];
    expect(all).toHaveLength(6);
    expect(all[0]!.action).toBe('document.update');
    expect(all.every((r) => r.actor_id === user.id)).toBe(true);
    expect(all.map((r) => r.id)).toEqual([...all.map((r) => r.id)].sort((a, b) => b - a));

    const seen: number[] = [];
    let cursor: string | null = null;
    do {
      const page: { data: AuditRow[]; next_cursor: string | null } = (await me('GET', `/audit-logs?limit=4${cursor ? `&cursor=${cursor}` : ''}`)).json();
      seen.push(...page.data.map((r: AuditRow) => r.id));
      cursor = page.next_cursor;
    } while (cursor);
    expect(seen).toEqual(all.map((r) => r.id));

    expect((await me('GET', '/audit-logs?action=document.update')).json().data).toHaveLength(1);
    expect((await me('GET', `/audit-logs?entity_type=document&entity_id=${ids[0]}`)).json().data).toHaveLength(2);
    const created = (await me('GET', `/audit-logs?entity_id=${ids[4]}`)).json().data[0] as AuditRow & { created_at: string };
    expect((await me('GET', `/audit-logs?since=${encodeURIComponent(created.created_at)}`)).json().data.length).toBeGreaterThanOrEqual(2);
    expect((await me('GET', `/audit-logs?until=${encodeURIComponent(created.created_at)}`)).json().data).toHaveLength(4);

    // Someone else's trail: invisible to a user, even when asked by actor_id.
    expect((await me('GET', `/audit-logs?actor_id=${alice.id}`)).json().data).toEqual([]);
    const admin = client(t.app, await createUserWithToken(t.app, { role: 'admin' }));
    const theirs = (await admin('GET', `/audit-logs?actor_id=${user.id}`)).json().data as AuditRow[];
    expect(theirs.map((r) => r.id)).toEqual(all.map((r) => r.id));
    const everyone = (await admin('GET', '/audit-logs?limit=200')).json().data as AuditRow[];
    expect(new Set(everyone.map((r) => r.actor_id)).size).toBeGreaterThan(1);
  });

  it('rejects bad filters with 400', async () => {
    for (const q of ['limit=0', 'limit=201', 'since=yesterday', 'until=2024-13-01T00:00:00Z', 'actor_id=nope', 'cursor=%%%', 'cursor=abc', 'foo=bar']) {
      const res = await api('GET', `/audit-logs?${q}`);
      expect(res.statusCode, q).toBe(400);
      expect(res.json().code).toBe('validation_failed');
    }
  });
});
