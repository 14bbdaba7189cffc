import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../../helpers/app.js';
import { client, newDoc, type Client } from '../../helpers/data.js';
import { createUserWithToken, type TestUser } from '../../helpers/users.js';

let t: TestApp;
let alice: TestUser;
let api: Client;
let ids: string[];

interface Doc {
  id: string;
  title: string;
  created_at: string;
  updated_at: string;
  status: string;
  tags: string[];
}

beforeAll(async () => {
  t = await buildTestApp();
  alice = await createUserWithToken(t.app);
  api = client(t.app, alice);
  // A batch shares one created_at (one transaction): the id tie-breaker must order them.
  const batch = Array.from({ length: 15 }, (_, i) => newDoc({ title: `batch ${String(i).padStart(2, '0')}`, tags: i % 2 ? ['odd', 'all'] : ['even', 'all'], status: i % 3 ? 'uploaded' : 'ready' }));
  const res = await api('POST', '/documents/batch', { documents: batch });
  ids = res.json().data.map((d: Doc) => d.id);
  for (let i = 0; i < 10; i++) ids.push((await api('POST', '/documents', newDoc({ title: `single ${i}`, tags: ['all'] }))).json().id);
});
afterAll(() => t.close());

async function walk(query: string, between?: (page: number) => Promise<void>): Promise<Doc[]> {
  const seen: Doc[] = [];
  let cursor: string | null = null;
  for (let page = 0; page < 100; page++) {
    const res = await api('GET', `/documents?${query}${cursor ? `&cursor=${cursor}` : ''}`);
    expect(res.statusCode).toBe(200);
    const body = res.json() as { data: Doc[]; next_cursor: string | null };
    seen.push(...body.data);
    cursor = body.next_cursor;
    if (!cursor) return seen;
    await between?.(page);
  }
  throw new Error('pagination did not end');
}

describe('GET /documents', () => {
  it('defaults to newest first, 50 per page, next_cursor null on the last page', async () => {
    const res = await api('GET', '/documents');
    const body = res.json();
    expect(body.data).toHaveLength(25);
    expect(body.next_cursor).toBeNull();
    expect(body).not.toHaveProperty('total');
    const times = body.data.map((d: Doc) => d.created_at);
    expect([...times].sort().reverse()).toEqual(times);
  });

  for (const sort of ['-created_at', 'created_at', 'title', '-title', 'updated_at', '-updated_at']) {
    it(`sort=${sort}: visits every row exactly once, in order, while rows are inserted between pages`, async () => {
      const before = new Set((await walk('limit=200')).map((d) => d.id));
      const inserted: string[] = [];
      const seen = await walk(`sort=${sort}&limit=4`, async (page) => {
        const created = await api('POST', '/documents', newDoc({ title: `between ${sort} ${page}` }));
        inserted.push(created.json().id);
      });
      const seenIds = seen.map((d) => d.id);
      expect(new Set(seenIds).size).toBe(seenIds.length); // no duplicates
      for (const id of before) expect(seenIds).toContain(id); // nothing skipped
      for (const id of seenIds) expect(before.has(id) || inserted.includes(id)).toBe(true);
      // Order is the requested one, ties broken by id in the same direction.
      const key = sort.replace('-', '') as keyof Doc;
      const desc = sort.startsWith('-');
      const expected = [...seen].sort((a, b) => {
        const c = key === 'title' ? (a.title < b.title ? -1 : a.title > b.title ? 1 : 0) : Date.parse(a[key] as string) - Date.parse(b[key] as string) || micro(a[key] as string) - micro(b[key] as string);
        const byKey = c || (a.id < b.id ? -1 : 1);
        return desc ? -byKey : byKey;
      });
      if (key !== 'title') expect(seenIds).toEqual(expected.map((d) => d.id)); // titles: collation may differ from JS
      await t.testDb.sql`delete from documents where id = any(${inserted}::uuid[])`;
    });
  }

  it('filters by status, tags (all given), created_after / created_before', async () => {
    const ready = (await api('GET', '/documents?status=ready&limit=200')).json().data as Doc[];
    expect(ready.length).toBe(5);
    expect(ready.every((d) => d.status === 'ready')).toBe(true);
    expect((await api('GET', '/documents?tag=odd&limit=200')).json().data).toHaveLength(7);
    expect((await api('GET', '/documents?tag=odd&tag=all&limit=200')).json().data).toHaveLength(7);
    expect((await api('GET', '/documents?tag=odd&tag=even')).json().data).toHaveLength(0);
    const all = (await api('GET', '/documents?sort=created_at&limit=200')).json().data as Doc[];
    const pivot = all[20]!.created_at;
    const after = (await api('GET', `/documents?created_after=${encodeURIComponent(pivot)}&limit=200`)).json().data as Doc[];
    expect(after.every((d) => d.created_at > pivot)).toBe(true);
    const before = (await api('GET', `/documents?created_before=${encodeURIComponent(pivot)}&limit=200`)).json().data as Doc[];
    expect(after.length + before.length + all.filter((d) => d.created_at === pivot).length).toBe(all.length);
  });

  it('count=exact adds the total of all pages; /documents/count takes the same filters', async () => {
    const res = (await api('GET', '/documents?count=exact&limit=2&tag=all')).json();
    expect(res.data).toHaveLength(2);
    expect(res.total).toBe(25);
    expect((await api('GET', '/documents/count')).json()).toEqual({ count: 25 });
    expect((await api('GET', '/documents/count?status=ready')).json()).toEqual({ count: 5 });
    expect((await api('GET', '/documents/count?tag=even')).json()).toEqual({ count: 8 });
  });

  it('a cursor only works with the sort it was made for', async () => {
    const { next_cursor } = (await api('GET', '/documents?sort=title&limit=2')).json();
    expect((await api('GET', `/documents?sort=title&limit=2&cursor=${next_cursor}`)).statusCode).toBe(200);
    const res = await api('GET', `/documents?sort=-title&limit=2&cursor=${next_cursor}`);
    expect(res.statusCode).toBe(400);
    expect(res.json().details[0].field).toBe('cursor');
  });

  it('a user only lists their own; an owner_id filter cannot widen it; an admin lists anyone with owner_id', async () => {
    const bob = await createUserWithToken(t.app);
    const asBob = client(t.app, bob);
    await asBob('POST', '/documents', newDoc());
    expect((await asBob('GET', '/documents')).json().data).toHaveLength(1);
    expect((await asBob('GET', `/documents?owner_id=${alice.id}`)).json().data).toHaveLength(0);
    expect((await asBob('GET', `/documents/count?owner_id=${alice.id}`)).json().count).toBe(0);
    const admin = client(t.app, await createUserWithToken(t.app, { role: 'admin' }));
    expect((await admin('GET', `/documents/count?owner_id=${alice.id}`)).json().count).toBe(25);
    expect((await admin('GET', '/documents/count')).json().count).toBe(26);
    const page = (await admin('GET', `/documents?owner_id=${bob.id}`)).json().data as { owner_id: string }[];
    expect(page.map((d) => d.owner_id)).toEqual([bob.id]);
  });
});

function micro(ts: string): number {
  return Number((/\.(\d+)/.exec(ts)?.[1] ?? '0').padEnd(6, '0'));
}
