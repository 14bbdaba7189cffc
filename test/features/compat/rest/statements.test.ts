import { randomUUID } from 'node:crypto';
import { PgDialect } from 'drizzle-orm/pg-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { buildTestApp, type TestApp } from '../../../helpers/app.js';
import { createUserWithToken, type TestUser } from '../../../helpers/users.js';
import { ANON_KEY } from '../helpers.js';

// A read's statement is rendered once per shape (src/resources/queries.ts) and then only gets
// its values: what supabase-js sends most (a row by id, a page in one order, a filtered list,
// an embedding) and the native list's later pages must not render SQL again when only the
// values change. Rendering is drizzle's PgDialect.sqlToQuery, counted here.

let t: TestApp;
let alice: TestUser;
const ids: string[] = [];

beforeAll(async () => {
  t = await buildTestApp({ OFFBASE_ANON_KEY: ANON_KEY, RATE_LIMIT_ENABLED: 'false' });
  alice = await createUserWithToken(t.app);
  for (let i = 0; i < 6; i++) {
    const res = await t.app.inject({ method: 'POST', url: '/api/v1/documents', headers: alice.headers, payload: { title: `Doc ${i}`, s3_bucket: 'b', s3_key: `k/${randomUUID()}`, status: i % 2 ? 'ready' : 'uploaded' } });
    expect(res.statusCode).toBe(201);
    ids.push(res.json().id as string);
    await t.app.inject({ method: 'POST', url: `/api/v1/documents/${res.json().id}/analyses`, headers: alice.headers, payload: { kind: 'summary', model: 'm' } });
  }
});
afterAll(async () => {
  vi.restoreAllMocks();
  await t?.close();
});

const rest = (url: string, accept?: string) =>
  t.app.inject({ method: 'GET', url: `/rest/v1/${url}`, headers: { apikey: ANON_KEY, authorization: alice.headers.authorization!, ...(accept ? { accept } : {}) } });

/** How many statements `run` renders. */
async function renders(run: () => Promise<void>): Promise<number> {
  const spy = vi.spyOn(PgDialect.prototype, 'sqlToQuery');
  try {
    await run();
    return spy.mock.calls.length;
  } finally {
    spy.mockRestore();
  }
}

describe('/rest/v1 reads render their statement once per shape', () => {
  const shapes: [string, (i: number) => string, string?][] = [
    ['a row by id (.single())', (i) => `documents?select=id,title&id=eq.${ids[i]}`, 'application/vnd.pgrst.object+json'],
    ['a page in one order', (i) => `documents?select=*&order=created_at.desc&limit=20&offset=${i + 1}`],
    ['filters of every kind', (i) => `documents?select=id&title=ilike.*${i}*&status=in.(ready,uploaded${',failed'.repeat(i)})&or=(size_bytes.is.null,size_bytes.gt.${i})`],
    ['an embedding', (i) => `documents?select=id,analyses(id,kind)&id=in.(${ids.slice(0, i + 1).join(',')})`],
  ];
  for (const [name, url, accept] of shapes) {
    it(name, async () => {
      const first = await rest(url(0), accept);
      expect(first.statusCode, first.body).toBe(200);
      const again = await renders(async () => {
        for (let i = 1; i < 5; i++) {
          const res = await rest(url(i), accept);
          expect(res.statusCode, res.body).toBe(200);
        }
      });
      expect(again).toBe(0);
    });
  }

  it('the values still decide: each id finds its own row', async () => {
    for (const id of ids) {
      const res = await rest(`documents?select=id&id=eq.${id}`, 'application/vnd.pgrst.object+json');
      expect(res.json()).toEqual({ id });
    }
  });
});

describe('the native list renders its later pages once', () => {
  it('pages after a cursor, with a filter, only bind values', async () => {
    const page = (cursor?: string) => t.app.inject({ method: 'GET', url: `/api/v1/documents?limit=1&status=ready${cursor ? `&cursor=${cursor}` : ''}`, headers: alice.headers });
    const seen: string[] = [];
    let res = await page();
    let cursor = res.json().next_cursor as string | null;
    seen.push(...res.json().data.map((d: { id: string }) => d.id));
    res = await page(cursor!);
    seen.push(...res.json().data.map((d: { id: string }) => d.id));
    cursor = res.json().next_cursor;
    const again = await renders(async () => {
      while (cursor) {
        res = await page(cursor);
        seen.push(...res.json().data.map((d: { id: string }) => d.id));
        cursor = res.json().next_cursor;
      }
    });
    expect(again).toBe(0);
    expect(seen.sort()).toEqual(ids.filter((_, i) => i % 2).sort());
  });
});
