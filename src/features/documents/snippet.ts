// A search hit's snippet: the parts of its title, description and text around the query's
// words, with those words in <b></b>, as safe HTML. Built here from the hit's text rather than
// by ts_headline in the search statement: ts_headline parses and stems every word it is given,
// and 20 headlines were most of a search's PostgreSQL time (docs/benchmarks.md, "Search
// snippets"). PostgreSQL still decides what the query means: the words come from its own
// parse (querytree of websearch_to_tsquery), and where the stems find nothing in a hit, the
// caller asks PostgreSQL's ts_headline for that hit (snippetFallback).

/** Characters of text before a word's first occurrence, and in all, that a window shows. */
export const SNIPPET_BEFORE = 60;
export const SNIPPET_WINDOW = 280;
/** Windows of the body at most (as ts_headline's MaxFragments=2 did), and word patterns looked for. */
const BODY_WINDOWS = 2;
const MAX_PATTERNS = 8;
export const FRAGMENT_DELIMITER = ' … ';

// A word character as PostgreSQL's \w counts them in a UTF-8 database: letters, digits, _.
const W = String.raw`[\p{L}\p{N}_]`;
const NW = String.raw`[^\p{L}\p{N}_]`;
const WORD_START = `(?<!${W})`;
const PLAIN_WORD = /^[\p{L}\p{N}_]+$/u;
// One operand of querytree's output: `'a'`, or a phrase `'a' <-> 'b' <2> 'c'`.
const TOKEN = /(?:<(-|\d+)> )?'((?:[^']|'')+)'/g;

export interface SnippetQuery {
  /** Where a query word or phrase starts, one pattern per AND/OR operand (first match only). */
  find: RegExp[];
  /** Every query word, for marking: a word of the text that starts with one of the stems. */
  mark: RegExp | null;
}

/**
 * The patterns of a query, from querytree's text (which leaves out the negated words). A stem is
 * a prefix of its words except for a final i standing for y (privaci/privacy), so that i is
 * dropped; lexemes that are not plain words (a-b, a/b: their parts are in the phrase too) are
 * left out. A phrase's words are looked for with as many words between them as its distance says.
 */
export function snippetQuery(tree: string): SnippetQuery {
  let q = parsed.get(tree);
  if (!q) {
    if (parsed.size >= 256) parsed.delete(parsed.keys().next().value!);
    parsed.set(tree, (q = parse(tree)));
  }
  return q;
}
// The patterns of the last queries by their tree (a search box repeats itself): their regular
// expressions are built once. Oldest first out, at most 256.
const parsed = new Map<string, SnippetQuery>();

function parse(tree: string): SnippetQuery {
  const find = new Set<string>();
  const stems = new Set<string>();
  for (const operand of tree.split(/ [&|] /)) {
    let pattern = '';
    for (const [, op, lex] of operand.matchAll(TOKEN)) {
      if (!PLAIN_WORD.test(lex!)) continue;
      const stem = lex!.length > 3 ? lex!.replace(/i$/, '') : lex!;
      stems.add(stem);
      if (!pattern) pattern = WORD_START + stem;
      else {
        const between = op === undefined || op === '-' ? 0 : Math.min(Math.max(Number(op) - 1, 0), 100);
        pattern += `${W}*${NW}+${between ? `(?:${W}+${NW}+){${between}}` : ''}${stem}`;
      }
    }
    if (pattern) find.add(pattern);
  }
  const byLength = [...stems].sort((a, b) => b.length - a.length);
  return {
    find: [...find].slice(0, MAX_PATTERNS).map((p) => new RegExp(p, 'iu')),
    mark: byLength.length ? new RegExp(`${WORD_START}(?:${byLength.join('|')})${W}*`, 'giu') : null,
  };
}

/** Cuts a slice of text at whole words: the cut-off first word (unless the text starts there) and last word (unless it ends there) go. */
function wholeWords(text: string, from: number, to: number): string {
  let s = text.slice(from, to);
  if (from > 0) {
    const space = s.search(/\s/);
    if (space >= 0) s = s.slice(space + 1);
    else if (/^[\uDC00-\uDFFF]/.test(s)) s = s.slice(1);
  }
  if (to < text.length) {
    const space = Math.max(s.lastIndexOf(' '), s.lastIndexOf('\n'), s.lastIndexOf('\t'));
    if (space >= 0) s = s.slice(0, space);
    else if (/[\uD800-\uDBFF]$/.test(s)) s = s.slice(0, -1);
  }
  return s;
}

/**
 * Windows of `text` around the first occurrence of each pattern (SNIPPET_BEFORE characters
 * before it, SNIPPET_WINDOW in all); overlapping windows merge; at most `max` of them, in the
 * text's order. A text no longer than one window is shown whole. Null when no pattern is in it.
 */
function windows(text: string, find: RegExp[], max: number): string[] | null {
  const starts: number[] = [];
  for (const re of find) {
    const m = re.exec(text);
    if (m) starts.push(Math.max(m.index - SNIPPET_BEFORE, 0));
  }
  if (!starts.length) return null;
  if (text.length <= SNIPPET_WINDOW) return [text];
  starts.sort((a, b) => a - b);
  const spans: [number, number][] = [];
  for (const a of starts) {
    const last = spans[spans.length - 1];
    if (last && a < last[1]) last[1] = Math.max(last[1], a + SNIPPET_WINDOW);
    else if (spans.length < max) spans.push([a, a + SNIPPET_WINDOW]);
  }
  return spans.map(([a, b]) => wholeWords(text, a, Math.min(b, text.length)));
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const HTML_SPECIAL = /[&<>"']/;
const HTML_SPECIALS = new RegExp(HTML_SPECIAL.source, 'g');
const escapeHtml = (s: string) => (HTML_SPECIAL.test(s) ? s.replace(HTML_SPECIALS, (c) => ESCAPES[c]!) : s);

/** HTML of a piece of text with the query's words in <b></b>; `marked.found` tells whether any was. */
function markWords(piece: string, mark: RegExp | null, marked: { found: boolean }): string {
  if (!mark) return escapeHtml(piece);
  let out = '';
  let last = 0;
  for (const m of piece.matchAll(mark)) {
    out += `${escapeHtml(piece.slice(last, m.index))}<b>${escapeHtml(m[0])}</b>`;
    last = m.index + m[0].length;
    marked.found = true;
  }
  return out + escapeHtml(piece.slice(last));
}

// ts_headline's markers (snippetFallback): stripped from the text first, so only PostgreSQL
// can produce them, then turned into <b></b> after the text is HTML-escaped.
export const MARK_START = '\u0002';
export const MARK_END = '\u0003';
const stripMarks = (s: string) => (s.includes(MARK_START) || s.includes(MARK_END) ? s.replaceAll(MARK_START, '').replaceAll(MARK_END, '') : s);

export interface SnippetSource {
  title: string;
  description: string | null;
  content: string | null;
}

/**
 * The snippet of one hit, as HTML: the title and the description when a query word or phrase is
 * in them, and windows of the body around its first occurrences (or the body's start when
 * none is there), joined by " … ". Null when the query has words but none of them is marked in
 * what was chosen (a stem that is not a prefix of the word in the text): the caller then asks
 * PostgreSQL for that hit's headline (snippetFallback).
 */
export function buildSnippet(doc: SnippetSource, q: SnippetQuery): string | null {
  const title = stripMarks(doc.title);
  const description = stripMarks(doc.description ?? '');
  const body = stripMarks(doc.content ?? '');
  const pieces = [
    ...(windows(title, q.find, 1) ?? []),
    ...(windows(description, q.find, 1) ?? []),
    ...(windows(body, q.find, BODY_WINDOWS) ?? [wholeWords(body, 0, Math.min(body.length, SNIPPET_WINDOW))]),
  ].filter((p) => p.trim() !== '');
  const marked = { found: false };
  const html = pieces.map((p) => markWords(p, q.mark, marked)).join(FRAGMENT_DELIMITER);
  return q.find.length && !marked.found ? null : html;
}

/** The text a fallback headline is made from: every field, the markers stripped. */
export const fallbackText = (doc: SnippetSource): string =>
  stripMarks([doc.title, doc.description, doc.content].filter((s) => s).join(' '));

/** ts_headline's output (markers around matches) as the same safe HTML. */
export function headlineHtml(headline: string): string {
  return escapeHtml(headline).replaceAll(MARK_START, '<b>').replaceAll(MARK_END, '</b>');
}
