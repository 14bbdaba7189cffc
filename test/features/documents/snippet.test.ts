import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SNIPPET_WINDOW, buildSnippet, fallbackText, headlineHtml, snippetQuery } from '../../../src/features/documents/snippet.js';

// The trees below are what PostgreSQL's querytree(websearch_to_tsquery('english', …)) prints
// (checked on PostgreSQL 15); test/features/documents/search.test.ts runs them end to end.
const snip = (tree: string, doc: { title?: string; description?: string | null; content?: string | null }) =>
  buildSnippet({ title: doc.title ?? 'Untitled', description: doc.description ?? null, content: doc.content ?? null }, snippetQuery(tree));

describe('snippetQuery', () => {
  it('one pattern per operand; phrases keep their distance; non-word lexemes are left out', () => {
    const q = snippetQuery("'govern' <2> 'law' & 'e-mail' <-> 'e' <-> 'mail' | 'privaci'");
    expect(q.find.map((r) => r.source)).toEqual([
      String.raw`(?<![\p{L}\p{N}_])govern[\p{L}\p{N}_]*[^\p{L}\p{N}_]+(?:[\p{L}\p{N}_]+[^\p{L}\p{N}_]+){1}law`,
      String.raw`(?<![\p{L}\p{N}_])e[\p{L}\p{N}_]*[^\p{L}\p{N}_]+mail`,
      String.raw`(?<![\p{L}\p{N}_])privac`,
    ]);
    const text = 'The governing law; governing the law';
    expect(text.match(q.find[0]!)?.index).toBe(text.lastIndexOf('governing'));
    expect(snippetQuery('').find).toEqual([]);
    expect(snippetQuery('').mark).toBeNull();
  });

  it('at most 8 patterns, and a stem drops its final i only when it keeps three letters', () => {
    const tree = Array.from({ length: 12 }, (_, i) => `'w${i}x'`).join(' & ');
    expect(snippetQuery(tree).find).toHaveLength(8);
    expect(snippetQuery("'hi'").find[0]!.source.endsWith('hi')).toBe(true);
    expect(snippetQuery("'taxi'").find[0]!.source.endsWith('tax')).toBe(true);
  });
});

describe('buildSnippet', () => {
  const filler = (n: number, tag: string) => Array.from({ length: n }, (_, i) => `${tag}${i.toString(36)}`).join(' ');

  it('marks every word that starts with a stem, case-insensitively, in escaped HTML', () => {
    expect(snip("'indemnif'", { title: 'Indemnification <clause> & review', content: 'Nothing here.' })).toBe(
      '<b>Indemnification</b> &lt;clause&gt; &amp; review … Nothing here.',
    );
    expect(snip("'review'", { content: 'Reviews, reviewed; a preview is not one.' })).toBe('<b>Reviews</b>, <b>reviewed</b>; a preview is not one.');
    expect(snip("'café'", { content: 'Un CAFÉ noir.' })).toBe('Un <b>CAFÉ</b> noir.');
  });

  it('the title and the description take part only when a query word is in them', () => {
    expect(snip("'zanzibar'", { title: 'Case', description: 'A note', content: 'zanzibar here' })).toBe('<b>zanzibar</b> here');
    expect(snip("'note'", { title: 'Case', description: 'A note', content: 'zanzibar here' })).toBe('A <b>note</b> … zanzibar here');
  });

  it('a window around a deep hit, cut at whole words, no longer than a window', () => {
    const content = `${filler(900, 'lor')} the zanzibar clause applies here. ${filler(300, 'ips')}`;
    const s = snip("'zanzibar'", { content })!;
    expect(s).toContain('<b>zanzibar</b> clause');
    expect(s.length).toBeLessThanOrEqual(SNIPPET_WINDOW + 7);
    const words = new Set(content.split(' '));
    for (const w of s.replace(/<\/?b>/g, '').split(' ')) expect(words).toContain(w);
  });

  it('far-apart words get a window each (two at most), near ones share one', () => {
    const far = `${filler(20, 'a')} quokka ${filler(300, 'b')} wombat ${filler(300, 'c')} numbat ${filler(50, 'd')}`;
    const s = snip("'quokka' & 'wombat' & 'numbat'", { content: far })!;
    expect(s.split(' … ')).toHaveLength(2);
    expect(s).toContain('<b>quokka</b>');
    expect(s).toContain('<b>wombat</b>');
    expect(s).not.toContain('numbat');
    const near = snip("'quokka' & 'wombat'", { content: `${filler(100, 'a')} quokka and wombat ${filler(100, 'b')}` })!;
    expect(near.split(' … ')).toHaveLength(1);
  });

  it("a body without the words shows its start; the text's own marker characters are dropped", () => {
    expect(snip("'forg'", { title: 'Forged \u0002markers\u0003', content: 'A \u0002bold\u0003 claim.' })).toBe('<b>Forged</b> markers … A bold claim.');
    expect(snip("'x'", { title: 'x', content: filler(200, 'e') })!.length).toBeLessThan(SNIPPET_WINDOW + 20);
  });

  it('null when the query has words but no stem is a prefix of one in the text (the caller asks ts_headline)', () => {
    expect(snip("'die'", { content: 'The patient was dying.' })).toBeNull();
    // No plain-word lexeme: nothing to mark, nothing to ask for.
    expect(snip("'foo.com'", { content: 'See foo.com.' })).toBe('See foo.com.');
  });

  it('never splits a surrogate pair at a cut', () => {
    const content = `${'😀'.repeat(400)} quokka ${'😀'.repeat(400)}`;
    const s = snip("'quokka'", { content })!;
    expect(s).toContain('<b>quokka</b>');
    expect(s.replace(/[\uD800-\uDBFF][\uDC00-\uDFFF]/g, '')).not.toMatch(/[\uD800-\uDFFF]/);
  });

  it('is safe HTML whatever the text: only <b> and </b> tags, balanced, around query words', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 600, unit: 'binary' }), fc.string({ maxLength: 60 }), fc.constantFrom("'quokka'", "'a' <-> 'b'", "'x' & 'y'"), (content, title, tree) => {
        const s = snip(tree, { title, content: `${content} quokka a b x y` });
        if (s === null) return false;
        const tags = s.match(/<[^>]*>/g) ?? [];
        if (tags.some((t) => t !== '<b>' && t !== '</b>')) return false;
        if (/<(?!\/?b>)/.test(s) || s.includes('\u0002')) return false;
        return tags.every((t, i) => t === (i % 2 ? '</b>' : '<b>'));
      }),
      { numRuns: 300 },
    );
  });
});

describe('the fallback', () => {
  it("joins every field without markers, and renders ts_headline's markers as <b></b> after escaping", () => {
    expect(fallbackText({ title: 'T\u0002', description: null, content: 'body' })).toBe('T body');
    expect(headlineHtml('a \u0002dying\u0003 <i>')).toBe('a <b>dying</b> &lt;i&gt;');
  });
});
