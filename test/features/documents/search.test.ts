import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../../helpers/app.js';
import { client, newDoc, type Client } from '../../helpers/data.js';
import { createUserWithToken, type TestUser } from '../../helpers/users.js';

let t: TestApp;
let alice: TestUser;
let api: Client;
const id: Record<string, string | undefined> = {};

beforeAll(async () => {
  t = await buildTestApp();
  alice = await createUserWithToken(t.app);
  api = client(t.app, alice);
  const docs = {
    titleHit: newDoc({ title: 'Indemnification clause review', content_text: 'Nothing else of note here.' }),
    bodyHit: newDoc({ title: 'Quarterly report', content_text: 'Section 4 covers the indemnification obligations of the supplier.' }),
    descHit: newDoc({ title: 'Vendor agreement', description: 'Contains an indemnification cap', content_text: 'Plain text.' }),
    phrase: newDoc({ title: 'Board minutes', content_text: 'The board approved the annual budget after a long debate.' }),
    scrambled: newDoc({ title: 'Budget notes', content_text: 'Annual review of the approved board seats and budget.' }),
    html: newDoc({ title: 'Injected', content_text: '<script>alert(1)</script> malware sample & friends' }),
    // The highlight markers (MARK_START, MARK_END in queries.ts) in a document's own text.
    forged: newDoc({ title: 'Forged \u0002markers\u0003', content_text: 'A quagmire of \u0002bold\u0003 claims, and \u0003 alone \u0002.' }),
  };
  for (const [name, body] of Object.entries(docs)) id[name] = (await api('POST', '/documents', body)).json().id;
});
afterAll(() => t.close());

const search = async (q: string, extra = '') => {
  const res = await api('GET', `/documents/search?q=${encodeURIComponent(q)}${extra}`);
  expect(res.statusCode, `q=${q}: ${res.body}`).toBe(200);
  return res.json().data as { id: string; rank: number; snippet: string; content_text?: string }[];
};

describe('GET /documents/search', () => {
  it('finds by title, description and body, and ranks the title hit highest', async () => {
    const hits = await search('indemnification');
    expect(hits.map((h) => h.id).sort()).toEqual([id.titleHit, id.bodyHit, id.descHit].sort());
    expect(hits[0]!.id).toBe(id.titleHit);
    expect(hits.map((h) => h.id).indexOf(id.descHit!)).toBeLessThan(hits.map((h) => h.id).indexOf(id.bodyHit!));
    expect(hits[0]!.rank).toBeGreaterThan(hits[2]!.rank);
    expect(hits[0]).not.toHaveProperty('content_text');
    expect(Object.keys(hits[0]!).filter((k) => k.startsWith('hl_'))).toEqual([]);
    expect(hits[0]!.snippet).toContain('<b>Indemnification</b> clause review');
    // English stemming: another form of the word matches.
    expect((await search('reviews')).map((h) => h.id)).toContain(id.titleHit);
  });

  it('highlights matches with <b></b> in an HTML-escaped snippet', async () => {
    const [hit] = await search('supplier');
    expect(hit!.snippet).toContain('<b>supplier</b>');
    const [html] = await search('malware');
    expect(html!.snippet).toContain('<b>malware</b>');
    expect(html!.snippet).not.toContain('<script>');
    expect(html!.snippet).toContain('&amp;');
  });

  it("a document's own text cannot forge a highlight: only PostgreSQL's marks become <b>", async () => {
    for (const q of ['quagmire', 'forged']) {
      const [hit] = await search(q);
      expect(hit!.id).toBe(id.forged);
      expect(hit!.snippet).toContain(`<b>${q === 'forged' ? 'Forged' : q}</b>`);
      expect(hit!.snippet.match(/<b>/g)).toHaveLength(1);
      expect(hit!.snippet.includes('\u0002') || hit!.snippet.includes('\u0003')).toBe(false);
    }
  });

  it('quoted phrases match only the phrase; -word excludes; or widens', async () => {
    const phrase = await search('"approved the annual budget"');
    expect(phrase.map((h) => h.id)).toEqual([id.phrase]);
    const loose = await search('approved annual budget');
    expect(loose.map((h) => h.id).sort()).toEqual([id.phrase, id.scrambled].sort());
    expect((await search('budget -debate')).map((h) => h.id)).toEqual([id.scrambled]);
    expect((await search('supplier or malware')).map((h) => h.id).sort()).toEqual([id.bodyHit, id.html].sort());
  });

  it('limit bounds the results; stop words and punctuation alone give an empty list', async () => {
    expect(await search('indemnification', '&limit=1')).toHaveLength(1);
    expect(await search('the')).toEqual([]);
    expect(await search('!!!')).toEqual([]);
  });

  it('adversarial strings give results or an empty list, never an error', async () => {
    const nasty = [
      `'; drop table documents; --`, `"unterminated`, `\\\\\\`, `&|!:*()<>`, `a & b | !c`, `:*`, `***`, `"" "" ""`, `-`, `--`, `or or or`,
      `' or 1=1 --`, `$1`, `\u0000`, `😀 emoji`, `a:* & b:*`, `(((((`, `<->`, `'\\''`, 'x'.repeat(500),
    ];
    for (const q of nasty) {
      const res = await api('GET', `/documents/search?q=${encodeURIComponent(q)}`);
      expect([200, 400], `q=${JSON.stringify(q)} → ${res.statusCode}`).toContain(res.statusCode);
    }
    await fc.assert(
      fc.asyncProperty(fc.string({ minLength: 1, maxLength: 60, unit: 'binary' }), async (q) => {
        const res = await api('GET', `/documents/search?q=${encodeURIComponent(q)}`);
        return res.statusCode === 200 || res.statusCode === 400;
      }),
      { numRuns: 60 },
    );
    expect((await t.testDb.sql`select count(*)::int as n from documents`)[0]!.n).toBe(Object.keys(id).length);
  });

  it('q must be 1–500 characters', async () => {
    expect((await api('GET', '/documents/search')).statusCode).toBe(400);
    expect((await api('GET', '/documents/search?q=')).statusCode).toBe(400);
    expect((await api('GET', `/documents/search?q=${'a'.repeat(501)}`)).statusCode).toBe(400);
    expect((await api('GET', '/documents/search?q=a&limit=101')).statusCode).toBe(400);
  });

  it("never finds another user's documents; an admin searches everyone's", async () => {
    const bob = client(t.app, await createUserWithToken(t.app));
    expect((await bob('GET', '/documents/search?q=indemnification')).json().data).toEqual([]);
    const admin = client(t.app, await createUserWithToken(t.app, { role: 'admin' }));
    expect((await admin('GET', '/documents/search?q=indemnification')).json().data).toHaveLength(3);
    expect((await admin('GET', `/documents/search?q=indemnification&owner_id=${alice.id}`)).json().data).toHaveLength(3);
  });
});

// Snippets are built from windows of content_text around the first occurrence of each query
// word (queries.ts, SNIPPET_SQL), not from the whole text.
describe('GET /documents/search snippets of long texts', () => {
  let carol: Client;
  // Filler no query below matches: distinct made-up words, so every word is identifiable.
  const filler = (n: number, tag: string) => Array.from({ length: n }, (_, i) => `${tag}${i.toString(36)}`).join(' ');
  const texts = {
    deep: `${filler(900, 'lor')} the zanzibar clause applies here. ${filler(300, 'ips')}`,
    apart: `${filler(20, 'dol')} quokka first. ${filler(600, 'sit')} then wombat. ${filler(50, 'amt')}`,
    phrase: `Law firms advise the governing board. ${filler(700, 'con')} The governing law is Scots. ${filler(40, 'adi')}`,
  };
  const words = (s: string) => s.replace(/<\/?b>/g, '').split(/[\s…]+/).filter(Boolean);

  beforeAll(async () => {
    carol = client(t.app, await createUserWithToken(t.app));
    for (const [name, text] of Object.entries(texts)) expect((await carol('POST', '/documents', newDoc({ title: `Case ${name}`, content_text: text }))).statusCode).toBe(201);
  });
  const snippet = async (q: string) => {
    const res = await carol('GET', `/documents/search?q=${encodeURIComponent(q)}`);
    expect(res.statusCode).toBe(200);
    const data = res.json().data as { snippet: string }[];
    expect(data).toHaveLength(1);
    return data[0]!.snippet;
  };

  it('highlights a hit deep in a long text, with only whole words of the text around it', async () => {
    const s = await snippet('zanzibar');
    expect(s).toContain('<b>zanzibar</b> clause');
    expect(s.length).toBeLessThan(400);
    // The title takes part only when it holds a query word.
    expect(s).not.toContain('Case deep');
    const known = new Set(words(`Case deep ${texts.deep}`).map((w) => w.replace(/\.$/, '')));
    for (const w of words(s)) expect(known, `"${w}" in ${s}`).toContain(w.replace(/\.$/, ''));
  });

  it('highlights every word of an AND query even when they are far apart', async () => {
    const s = await snippet('quokka wombat');
    expect(s).toContain('<b>quokka</b>');
    expect(s).toContain('<b>wombat</b>');
  });

  it('finds a phrase away from the first occurrences of its words', async () => {
    const s = await snippet('"governing law"');
    expect(s).toContain('<b>governing</b> <b>law</b> is Scots');
  });
});

describe('GET /documents/search snippets PostgreSQL makes', () => {
  it("a word whose stem is not a prefix of it (dying → die) is highlighted by ts_headline's fallback", async () => {
    const dave = client(t.app, await createUserWithToken(t.app));
    for (const title of ['Ward notes', 'Night round']) {
      expect((await dave('POST', '/documents', newDoc({ title, content_text: `The patient in ${title} was dying <slowly> & quietly.` }))).statusCode).toBe(201);
    }
    const res = await dave('GET', `/documents/search?q=${encodeURIComponent('die')}`);
    expect(res.statusCode).toBe(200);
    const data = res.json().data as { title: string; snippet: string }[];
    expect(data).toHaveLength(2);
    for (const hit of data) {
      expect(hit.snippet).toContain('<b>dying</b>');
      // ts_headline drops what its parser takes for a tag; the rest is escaped.
      expect(hit.snippet).toContain('&amp; quietly');
      expect(hit.snippet.replace(/<\/?b>/g, '')).not.toContain('<');
      expect(hit.snippet).toContain(hit.title);
    }
  });
});
