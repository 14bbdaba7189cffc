import { randomUUID } from 'node:crypto';
import type { SupabaseClient } from '@supabase/supabase-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ANON_KEY, signedInClient, startCompatServer, type CompatServer } from '../helpers.js';

// supabase-js's query builder (postgrest-js) against /rest/v1 over real HTTP, on the same
// tables, isolation and audit trail as /api/v1.

let server: CompatServer;
let alice: { client: SupabaseClient; user: { id: string } };
let bob: { client: SupabaseClient; user: { id: string } };

const doc = (title: string, extra: Record<string, unknown> = {}) => ({ title, s3_bucket: 'bucket', s3_key: `k/${randomUUID()}`, ...extra });

beforeAll(async () => {
  server = await startCompatServer({ RATE_LIMIT_REGISTER_PER_IP: '1000' });
  alice = await signedInClient(server);
  bob = await signedInClient(server);
  // Alice's library: five documents, two with analyses.
  const { data, error } = await alice.client
    .from('documents')
    .insert([
      doc('Quarterly report', { status: 'ready', tags: ['finance', 'q1'], description: 'Revenue and costs', content_text: 'The cat sat on the mat.' }),
      doc('Annual report', { status: 'ready', tags: ['finance'], description: null, content_text: 'Dogs and cats living together.' }),
      doc('Meeting notes', { status: 'processing', tags: ['ops'], description: 'Weekly sync', content_text: 'Nothing about animals.' }),
      doc('Contract draft', { status: 'uploaded', tags: [], description: 'Vendor, "ACME" (draft)', content_text: null }),
      doc('Invoice 42', { status: 'failed', tags: ['finance', 'billing'], description: 'Unpaid', content_text: 'Pay within 30 days.' }),
    ])
    .select('id,title');
  if (error) throw new Error(JSON.stringify(error));
  const byTitle = Object.fromEntries(data!.map((d) => [d.title, d.id]));
  const analyses = await alice.client
    .from('analyses')
    .insert([
      { document_id: byTitle['Quarterly report'], kind: 'summary', status: 'succeeded', cost_usd: '0.012500', tokens_used: 1200 },
      { document_id: byTitle['Quarterly report'], kind: 'risks', status: 'pending' },
      { document_id: byTitle['Annual report'], kind: 'summary', status: 'failed', error: 'timeout' },
    ])
    .select();
  if (analyses.error) throw new Error(JSON.stringify(analyses.error));
  await bob.client.from('documents').insert(doc("Bob's secret plan", { status: 'ready', tags: ['finance'], content_text: 'cat' }));
});
afterAll(async () => {
  await server?.close();
});

describe('select', () => {
  it('returns rows with filters and order, in PostgREST types', async () => {
    const { data, error, status } = await alice.client.from('documents').select('*').eq('status', 'ready').order('title');
    expect(error).toBeNull();
    expect(status).toBe(200);
    expect(data!.map((d) => d.title)).toEqual(['Annual report', 'Quarterly report']);
    const q = data![1]!;
    expect(q).toMatchObject({ owner_id: alice.user.id, tags: ['finance', 'q1'], metadata: {}, analysis_count: 2, content_text: 'The cat sat on the mat.' });
    expect(q.created_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+00:00$/);
    expect(q).not.toHaveProperty('search');
  });

  it('selects columns with aliases', async () => {
    const { data } = await alice.client.from('documents').select('name:title,status').eq('title', 'Invoice 42');
    expect(data).toEqual([{ name: 'Invoice 42', status: 'failed' }]);
  });

  it('supports neq, gt/gte/lt/lte, in, is, like, ilike, cs, cd, not and or', async () => {
    const titles = async (q: PromiseLike<{ data: { title: string }[] | null; error: unknown }>) => {
      const { data, error } = await q;
      expect(error).toBeNull();
      return data!.map((d) => d.title).sort();
    };
    const from = () => alice.client.from('documents').select('title');
    expect(await titles(from().neq('status', 'ready'))).toEqual(['Contract draft', 'Invoice 42', 'Meeting notes']);
    expect(await titles(from().in('status', ['failed', 'uploaded']))).toEqual(['Contract draft', 'Invoice 42']);
    expect(await titles(from().is('description', null))).toEqual(['Annual report']);
    expect(await titles(from().not('description', 'is', null).like('title', '%report'))).toEqual(['Quarterly report']);
    expect(await titles(from().ilike('title', '%REPORT%'))).toEqual(['Annual report', 'Quarterly report']);
    expect(await titles(from().like('title', 'Inv*'))).toEqual(['Invoice 42']);
    expect(await titles(from().contains('tags', ['finance', 'billing']))).toEqual(['Invoice 42']);
    expect(await titles(from().containedBy('tags', ['finance', 'q1']))).toEqual(['Annual report', 'Contract draft', 'Quarterly report']);
    expect(await titles(from().or('status.eq.failed,title.eq.Meeting notes'))).toEqual(['Invoice 42', 'Meeting notes']);
    expect(await titles(from().or('and(status.eq.ready,tags.cs.{q1}),status.eq.uploaded'))).toEqual(['Contract draft', 'Quarterly report']);
    expect(await titles(from().eq('description', 'Vendor, "ACME" (draft)'))).toEqual(['Contract draft']);
    expect(await titles(from().in('description', ['Revenue and costs', 'Unpaid']))).toEqual(['Invoice 42', 'Quarterly report']);
    // PostgREST's quoting inside lists (supabase-js quotes, but does not escape inner quotes): by hand.
    const session = (await alice.client.auth.getSession()).data.session!;
    const res = await fetch(`${server.url}/rest/v1/documents?select=title&description=${encodeURIComponent('in.("Vendor, \\"ACME\\" (draft)",Unpaid)')}`, {
      headers: { apikey: ANON_KEY, authorization: `Bearer ${session.access_token}` },
    });
    expect(((await res.json()) as { title: string }[]).map((d) => d.title).sort()).toEqual(['Contract draft', 'Invoice 42']);
    expect(await titles(from().not('status', 'in', '(ready,failed)'))).toEqual(['Contract draft', 'Meeting notes']);
    expect(await titles(from().gte('analysis_count', 1).lt('analysis_count', 2))).toEqual(['Annual report']);
    expect(await titles(from().likeAnyOf('title', ['Inv*', 'Meet*']))).toEqual(['Invoice 42', 'Meeting notes']);
    expect(await titles(from().ilikeAllOf('title', ['*REPORT*', 'q*']))).toEqual(['Quarterly report']);
    expect(await titles(from().match({ status: 'ready', title: 'Annual report' }))).toEqual(['Annual report']);
    const { data: first } = await alice.client.from('documents').select('created_at').order('created_at').limit(1).single();
    // One INSERT: every row has the same created_at (the transaction's now()).
    expect(await titles(from().gte('created_at', first!.created_at).lte('created_at', new Date(Date.now() + 60_000).toISOString()))).toHaveLength(5);
    expect(await titles(from().gt('created_at', first!.created_at))).toEqual([]);
  });

  it('textSearch on the search column, with every type', async () => {
    const search = async (query: string, type?: 'plain' | 'phrase' | 'websearch') => {
      const { data, error } = await alice.client.from('documents').select('title').textSearch('search', query, { config: 'english', ...(type ? { type } : {}) });
      expect(error).toBeNull();
      return data!.map((d) => d.title).sort();
    };
    expect(await search('cat')).toEqual(['Annual report', 'Quarterly report']);
    expect(await search("'cat' & 'mat'")).toEqual(['Quarterly report']);
    expect(await search('cat mat', 'plain')).toEqual(['Quarterly report']);
    expect(await search('sat on the mat', 'phrase')).toEqual(['Quarterly report']);
    expect(await search('cats -mat', 'websearch')).toEqual(['Annual report']);
    expect(await search('report', 'websearch')).toEqual(['Annual report', 'Quarterly report']);
    // fts on a text column works too; a malformed tsquery is a 400, never a 500.
    const { data } = await alice.client.from('documents').select('title').textSearch('description', 'revenue');
    expect(data).toEqual([{ title: 'Quarterly report' }]);
    const bad = await alice.client.from('documents').select('title').textSearch('search', 'cat & & dog');
    expect(bad.status).toBe(400);
  });

  it('ranges, limits, and count exact with head', async () => {
    const page = await alice.client.from('documents').select('title', { count: 'exact' }).order('title').range(1, 2);
    expect(page.error).toBeNull();
    expect(page.data!.map((d) => d.title)).toEqual(['Contract draft', 'Invoice 42']);
    expect(page.count).toBe(5);
    expect(page.status).toBe(206);

    const head = await alice.client.from('documents').select('*', { count: 'exact', head: true }).eq('status', 'ready');
    expect(head.error).toBeNull();
    expect(head.data).toBeNull();
    expect(head.count).toBe(2);

    const limited = await alice.client.from('documents').select('title').order('title', { ascending: false }).limit(2);
    expect(limited.data!.map((d) => d.title)).toEqual(['Quarterly report', 'Meeting notes']);

    const planned = await alice.client.from('documents').select('id', { count: 'planned', head: true });
    expect(planned.count).toBe(5);

    const beyond = await alice.client.from('documents').select('id', { count: 'exact' }).range(10, 12);
    expect(beyond.status).toBe(416);
    expect(beyond.error).toMatchObject({ code: 'PGRST103' });
  });

  it('honours the Range header and nulls=stripped', async () => {
    const token = (await alice.client.auth.getSession()).data.session!.access_token;
    const res = await fetch(`${server.url}/rest/v1/documents?select=title&order=title`, {
      headers: { apikey: ANON_KEY, authorization: `Bearer ${token}`, range: '1-2', 'range-unit': 'items' },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-range')).toBe('1-2/*');
    expect(((await res.json()) as { title: string }[]).map((d) => d.title)).toEqual(['Contract draft', 'Invoice 42']);
    const bad = await fetch(`${server.url}/rest/v1/documents`, { headers: { apikey: ANON_KEY, authorization: `Bearer ${token}`, range: '5-1' } });
    expect(bad.status).toBe(416);

    const { data } = await alice.client.from('documents').select('title,description').eq('title', 'Annual report').stripNulls();
    expect(data).toEqual([{ title: 'Annual report' }]);
  });

  it('single and maybeSingle', async () => {
    const one = await alice.client.from('documents').select('title').eq('title', 'Invoice 42').single();
    expect(one.error).toBeNull();
    expect(one.data).toEqual({ title: 'Invoice 42' });

    const many = await alice.client.from('documents').select('title').eq('status', 'ready').single();
    expect(many.status).toBe(406);
    expect(many.error).toMatchObject({ code: 'PGRST116' });
    const none = await alice.client.from('documents').select('title').eq('title', 'nope').single();
    expect(none.error).toMatchObject({ code: 'PGRST116' });

    const maybe = await alice.client.from('documents').select('title').eq('title', 'nope').maybeSingle();
    expect(maybe.error).toBeNull();
    expect(maybe.data).toBeNull();
    const found = await alice.client.from('documents').select('title').eq('title', 'Invoice 42').maybeSingle();
    expect(found.data).toEqual({ title: 'Invoice 42' });
  });

  it('embeds analyses in documents, and the document in analyses', async () => {
    const { data, error } = await alice.client
      .from('documents')
      .select('title, analyses(kind, status, cost_usd)')
      .eq('title', 'Quarterly report')
      .order('kind', { referencedTable: 'analyses' })
      .single();
    expect(error).toBeNull();
    expect(data).toEqual({
      title: 'Quarterly report',
      analyses: [
        { kind: 'risks', status: 'pending', cost_usd: null },
        { kind: 'summary', status: 'succeeded', cost_usd: 0.0125 },
      ],
    });

    const counted = await alice.client.from('documents').select('title, analyses(count)').order('title');
    expect(counted.data!.map((d) => [d.title, (d.analyses as { count: number }[])[0]!.count])).toEqual([
      ['Annual report', 1],
      ['Contract draft', 0],
      ['Invoice 42', 0],
      ['Meeting notes', 0],
      ['Quarterly report', 2],
    ]);

    const inner = await alice.client.from('documents').select('title, runs:analyses!inner(kind)').eq('runs.status', 'failed');
    expect(inner.error).toBeNull();
    expect(inner.data).toEqual([{ title: 'Annual report', runs: [{ kind: 'summary' }] }]);

    const back = await alice.client.from('analyses').select('kind, document:documents(title)').eq('status', 'failed').single();
    expect(back.data).toEqual({ kind: 'summary', document: { title: 'Annual report' } });
  });

  it('answers unknown columns, tables, relations and bad syntax in PostgREST shape', async () => {
    const col = await alice.client.from('documents').select('nope');
    expect(col.status).toBe(400);
    expect(col.error).toMatchObject({ code: '42703', message: 'column documents.nope does not exist', details: null, hint: null });
    const filter = await alice.client.from('documents').select('id').eq('password_hash', 'x');
    expect(filter.error).toMatchObject({ code: '42703' });
    const table = await alice.client.from('users').select('*');
    expect(table.status).toBe(404);
    expect(table.error).toMatchObject({ code: 'PGRST205' });
    const rel = await alice.client.from('documents').select('id, users(email)');
    expect(rel.status).toBe(400);
    expect(rel.error).toMatchObject({ code: 'PGRST200' });
    const syntax = await alice.client.from('documents').select('id').filter('title', 'eqq', 'x');
    expect(syntax.error).toMatchObject({ code: 'PGRST100' });
    const badUuid = await alice.client.from('documents').select('id').eq('id', 'not-a-uuid');
    expect(badUuid.status).toBe(400);
  });
});

describe('bad input', () => {
  it('is a 4xx in PostgREST shape, never a 500', async () => {
    const token = (await alice.client.auth.getSession()).data.session!.access_token;
    const headers = { apikey: ANON_KEY, authorization: `Bearer ${token}` };
    const queries = [
      'select=%00', 'title=eq.%00', 'order=title.asc.nullsfirst.extra', 'id=in.(x,y)', 'created_at=gt.notadate', 'created_at=gt.2024-02-30',
      'tags=cs.{', 'metadata=cs.{bad json', 'search=fts(nonexistent).cat', 'search=fts(pg_catalog).cat', 'search=fts.%00', 'search=eq.cat',
      'limit=999999999', 'offset=99999999', 'size_bytes=gt.1e400', 'size_bytes=gt.99999999999999999999', 'analysis_count=eq.1.5',
      'title=like.%5C', 'or=(title.eq.a', 'select=analyses(documents(id))', 'analyses.limit=-1', 'tags=eq.{"unterminated}', 'metadata=is.true',
      'select=id&order=search', 'description=ilike(all).{}', `${'x'.repeat(70)}=eq.1`, 'not.or=(status.eq.ready)', 'title=in.()',
    ];
    for (const qs of queries) {
      const res = await fetch(`${server.url}/rest/v1/documents?${qs}`, { headers });
      expect(res.status, qs).toBeGreaterThanOrEqual(200);
      expect(res.status, qs).toBeLessThan(500);
      if (res.status >= 400) expect(Object.keys((await res.json()) as object).sort(), qs).toEqual(['code', 'details', 'hint', 'message']);
    }
    const bodies: [string, string][] = [
      ['POST', '"a string"'], ['POST', '[1,2]'], ['POST', '{"title":'], ['POST', '{"title":"x","s3_bucket":"b","s3_key":"k","metadata":"nope"}'],
      ['POST', '{"title":"x","s3_bucket":"b","s3_key":"k","status":"weird"}'], ['POST', '{"title":"","s3_bucket":"b","s3_key":"k"}'],
      ['PATCH', '[]'], ['PATCH', '{"size_bytes":-1}'], ['PATCH', '{"title":null}'], ['POST', `{"title":"x","s3_bucket":"b","s3_key":"k","tags":[1]}`],
    ];
    for (const [method, body] of bodies) {
      const res = await fetch(`${server.url}/rest/v1/documents?id=eq.${randomUUID()}`, { method, headers: { ...headers, 'content-type': 'application/json' }, body });
      expect(res.status, `${method} ${body}`).toBeGreaterThanOrEqual(200);
      expect(res.status, `${method} ${body}`).toBeLessThan(500);
    }
  });
});

describe('writes', () => {
  it('insert with .select() returns the row; without it, nothing', async () => {
    const created = await alice.client.from('documents').insert(doc('New one', { tags: ['x'] })).select().single();
    expect(created.error).toBeNull();
    expect(created.status).toBe(201);
    expect(created.data).toMatchObject({ title: 'New one', owner_id: alice.user.id, status: 'uploaded', tags: ['x'], analysis_count: 0 });

    const quiet = await alice.client.from('documents').insert(doc('Quiet one'));
    expect(quiet.error).toBeNull();
    expect(quiet.status).toBe(201);
    expect(quiet.data).toBeNull();
  });

  it('array insert returns every row in PostgREST types, in request order', async () => {
    const { data, error } = await alice.client.from('documents').insert([doc('Batch 1', { size_bytes: 10 }), doc('Batch 2')]).select('title,size_bytes,created_at,tags');
    expect(error).toBeNull();
    expect(data).toEqual([
      { title: 'Batch 1', size_bytes: 10, created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT[\d:.]+\+00:00$/), tags: [] },
      { title: 'Batch 2', size_bytes: null, created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT[\d:.]+\+00:00$/), tags: [] },
    ]);
    const withIds = await alice.client.from('documents').insert([{ id: randomUUID(), ...doc('a') }, doc('b')]);
    expect(withIds.status).toBe(400);
  });

  it('array insert is one statement: a duplicate writes nothing (23505, 409)', async () => {
    const dup = doc('Dup A');
    const { error, status } = await alice.client.from('documents').insert([doc('Batch ok'), dup, { ...dup, title: 'Dup B' }]);
    expect(status).toBe(409);
    expect(error).toMatchObject({ code: '23505' });
    const { count } = await alice.client.from('documents').select('id', { count: 'exact', head: true }).eq('title', 'Batch ok');
    expect(count).toBe(0);
  });

  it('array insert fills missing keys with null, or with defaults when asked (defaultToNull: false)', async () => {
    const rows = [doc('Has status', { status: 'ready' }), doc('No status')];
    const nulls = await alice.client.from('documents').insert(rows);
    expect(nulls.status).toBe(400);
    expect(nulls.error).toMatchObject({ code: '23502' });
    const defaults = await alice.client.from('documents').insert(rows, { defaultToNull: false }).select('title,status');
    expect(defaults.error).toBeNull();
    expect(defaults.data).toEqual([
      { title: 'Has status', status: 'ready' },
      { title: 'No status', status: 'uploaded' },
    ]);
  });

  it('rejects unknown columns, wrong types and another owner', async () => {
    const unknown = await alice.client.from('documents').insert({ ...doc('x'), colour: 'red' });
    expect(unknown.status).toBe(400);
    expect(unknown.error).toMatchObject({ code: 'PGRST204' });
    const missing = await alice.client.from('documents').insert({ s3_bucket: 'b', s3_key: 'k' });
    expect(missing.error).toMatchObject({ code: '23502' });
    const wrongType = await alice.client.from('documents').insert({ ...doc('x'), size_bytes: 'big' });
    expect(wrongType.status).toBe(400);
    const own = await alice.client.from('documents').insert({ ...doc('Mine'), owner_id: alice.user.id }).select('owner_id').single();
    expect(own.data).toEqual({ owner_id: alice.user.id });
    const theirs = await alice.client.from('documents').insert({ ...doc('Not mine'), owner_id: bob.user.id });
    expect(theirs.status).toBe(403);
    expect(theirs.error).toMatchObject({ code: '42501' });
  });

  it('upsert with onConflict merges on (s3_bucket, s3_key); ignoreDuplicates skips', async () => {
    const key = `up/${randomUUID()}`;
    const first = await alice.client.from('documents').upsert({ title: 'v1', s3_bucket: 'u', s3_key: key }, { onConflict: 's3_bucket,s3_key' }).select().single();
    expect(first.error).toBeNull();
    const second = await alice.client
      .from('documents')
      .upsert({ title: 'v2', s3_bucket: 'u', s3_key: key, status: 'ready' }, { onConflict: 's3_bucket,s3_key' })
      .select()
      .single();
    expect(second.error).toBeNull();
    expect(second.data).toMatchObject({ id: first.data!.id, title: 'v2', status: 'ready' });

    const ignored = await alice.client.from('documents').upsert({ title: 'v3', s3_bucket: 'u', s3_key: key }, { onConflict: 's3_bucket,s3_key', ignoreDuplicates: true }).select();
    expect(ignored.error).toBeNull();
    expect(ignored.data).toEqual([]);
    const { data } = await alice.client.from('documents').select('title').eq('id', first.data!.id).single();
    expect(data).toEqual({ title: 'v2' });
  });

  it('upsert by primary key updates the row read earlier (created_at and friends are ignored)', async () => {
    const { data: row } = await alice.client.from('documents').insert(doc('By id')).select().single();
    const { data, error } = await alice.client.from('documents').upsert({ ...row, title: 'By id, renamed' }).select().single();
    expect(error).toBeNull();
    expect(data).toMatchObject({ id: row!.id, title: 'By id, renamed' });
    const fresh = randomUUID();
    const inserted = await alice.client.from('documents').upsert({ id: fresh, ...doc('Chosen id') }).select('id').single();
    expect(inserted.data).toEqual({ id: fresh });
  });

  it('update and delete with .eq; unfiltered ones are refused', async () => {
    const { data: row } = await alice.client.from('documents').insert(doc('To change')).select().single();
    const updated = await alice.client.from('documents').update({ status: 'archived', metadata: { a: 1 } }).eq('id', row!.id).select();
    expect(updated.error).toBeNull();
    expect(updated.data).toEqual([expect.objectContaining({ id: row!.id, status: 'archived', metadata: { a: 1 } })]);

    const quiet = await alice.client.from('documents').update({ title: 'Changed' }).eq('id', row!.id);
    expect(quiet.status).toBe(204);

    const unfiltered = await alice.client.from('documents').update({ status: 'ready' });
    expect(unfiltered.status).toBe(400);
    expect(unfiltered.error).toMatchObject({ code: '21000' });
    const unfilteredDelete = await alice.client.from('documents').delete();
    expect(unfilteredDelete.error).toMatchObject({ code: '21000' });

    const deleted = await alice.client.from('documents').delete().eq('id', row!.id).select('title');
    expect(deleted.data).toEqual([{ title: 'Changed' }]);
    const gone = await alice.client.from('documents').select('id').eq('id', row!.id);
    expect(gone.data).toEqual([]);
  });

  it('writes through /rest/v1 leave the same audit trail as /api/v1', async () => {
    const { data: row } = await alice.client.from('documents').insert(doc('Audited')).select('id').single();
    await alice.client.from('documents').update({ title: 'Audited twice' }).eq('id', row!.id);
    await alice.client.from('documents').delete().eq('id', row!.id);
    const trail = await server.testDb.sql<{ action: string; actor_id: string }[]>`
      select action, actor_id from audit_logs where entity_id = ${row!.id} order by id`;
    expect(trail.map((t) => t.action)).toEqual(['document.create', 'document.update', 'document.delete']);
    expect(new Set(trail.map((t) => t.actor_id))).toEqual(new Set([alice.user.id]));
  });

  it('analyses: insert on a visible document, update and delete with filters', async () => {
    const { data: d } = await alice.client.from('documents').insert(doc('For analyses')).select('id').single();
    const created = await alice.client.from('analyses').insert({ document_id: d!.id, kind: 'classification' }).select().single();
    expect(created.error).toBeNull();
    expect(created.data).toMatchObject({ document_id: d!.id, owner_id: alice.user.id, kind: 'classification', status: 'pending' });
    const updated = await alice.client.from('analyses').update({ status: 'succeeded', result: { label: 'legal' } }).eq('document_id', d!.id).select('status,result');
    expect(updated.data).toEqual([{ status: 'succeeded', result: { label: 'legal' } }]);
    const { data: counted } = await alice.client.from('documents').select('analysis_count').eq('id', d!.id).single();
    expect(counted).toEqual({ analysis_count: 1 });
    const removed = await alice.client.from('analyses').delete().eq('id', created.data!.id);
    expect(removed.status).toBe(204);
  });
});

describe('isolation', () => {
  it('one user never sees, counts, changes or deletes another user’s rows', async () => {
    const { data: aliceRows } = await alice.client.from('documents').select('id, title, updated_at').order('id');
    const bobRead = await bob.client.from('documents').select('title');
    expect(bobRead.data).toEqual([{ title: "Bob's secret plan" }]);
    const { count } = await bob.client.from('documents').select('*', { count: 'exact', head: true });
    expect(count).toBe(1);
    const search = await bob.client.from('documents').select('title').textSearch('search', 'report');
    expect(search.data).toEqual([]);
    const ids = aliceRows!.map((r) => r.id);
    const byId = await bob.client.from('documents').select('id').in('id', ids);
    expect(byId.data).toEqual([]);
    const embedded = await bob.client.from('analyses').select('*');
    expect(embedded.data).toEqual([]);

    const update = await bob.client.from('documents').update({ title: 'pwned' }).in('id', ids).select();
    expect(update.error).toBeNull();
    expect(update.data).toEqual([]);
    const del = await bob.client.from('documents').delete().in('id', ids).select();
    expect(del.data).toEqual([]);
    const upsert = await bob.client.from('documents').upsert({ id: ids[0], ...doc('pwned') });
    expect(upsert.status).toBe(409);
    const attach = await bob.client.from('analyses').insert({ document_id: ids[0], kind: 'summary' });
    expect(attach.status).toBe(403);
    expect(attach.error).toMatchObject({ code: '42501' });

    const { data: after } = await alice.client.from('documents').select('id, title, updated_at').order('id');
    expect(after).toEqual(aliceRows);
  });

  it('an admin is a plain owner here, as under owner-only RLS', async () => {
    const admin = await signedInClient(server);
    await server.testDb.sql`update users set role = 'admin' where id = ${admin.user.id}`;
    const read = await admin.client.from('documents').select('id', { count: 'exact', head: true });
    expect(read.count).toBe(0);
    const update = await admin.client.from('documents').update({ title: 'admin was here' }).eq('status', 'ready').select();
    expect(update.data).toEqual([]);
    // The same token on /api/v1 keeps its admin powers.
    const token = (await admin.client.auth.getSession()).data.session!.access_token;
    const res = await server.app.inject({ method: 'GET', url: '/api/v1/documents/count', headers: { authorization: `Bearer ${token}` } });
    expect(res.json().count).toBeGreaterThan(0);
  });

  it('the anon key alone reads nothing and writes nothing', async () => {
    const anon = server.client();
    const read = await anon.from('documents').select('*', { count: 'exact' });
    expect(read.error).toBeNull();
    expect(read.data).toEqual([]);
    expect(read.count).toBe(0);
    const insert = await anon.from('documents').insert(doc('anon'));
    expect(insert.status).toBe(401);
    expect(insert.error).toMatchObject({ code: '42501' });
    const update = await anon.from('documents').update({ title: 'anon was here' }).eq('status', 'ready');
    expect(update.status).toBe(204);
    const { count } = await alice.client.from('documents').select('*', { count: 'exact', head: true }).eq('title', 'anon was here');
    expect(count).toBe(0);
  });

  it('refuses requests without the anon key, and bad tokens', async () => {
    const missing = await fetch(`${server.url}/rest/v1/documents`);
    expect(missing.status).toBe(401);
    expect(await missing.json()).toMatchObject({ message: 'No API key found in request' });
    const bad = await fetch(`${server.url}/rest/v1/documents`, { headers: { apikey: ANON_KEY, authorization: 'Bearer not.a.jwt' } });
    expect(bad.status).toBe(401);
    expect(await bad.json()).toMatchObject({ code: 'PGRST301' });
  });
});
