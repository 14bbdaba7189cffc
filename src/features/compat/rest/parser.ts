import { OPERATORS, type Operator } from '../../../query/filter.js';
import { invalidRange, parseError, PostgrestError } from './errors.js';
import { BoundedMap } from '../../../lib/bounded-map.js';

// PostgREST's URL grammar (docs.postgrest.org, "Tables and Views") parsed into a small AST.
// Pure: no table knowledge here. Column names and values stay text; resolve.ts checks names
// against the allowlist and types values before anything reaches SQL.
//
// Every name in a URL or header is the client's: `__proto__`, `constructor` and `toString`
// are names like any other. They key Maps and Sets here, never a plain object, so no name
// can reach (or write to) Object.prototype; resolve.ts answers them as unknown columns or
// relations.

export const FTS_OPERATORS: readonly Operator[] = ['fts', 'plfts', 'phfts', 'wfts'];
const QUANTIFIABLE: readonly Operator[] = ['eq', 'neq', 'gt', 'gte', 'lt', 'lte', 'like', 'ilike'];
// Operators PostgREST has and offbase does not: a clear PGRST100 instead of "unknown".
const UNSUPPORTED = new Set(['match', 'imatch', 'isdistinct', 'ov', 'sl', 'sr', 'nxl', 'nxr', 'adj']);

export interface RestCondition {
  column: string;
  op: Operator;
  /** `in` and `(any)`/`(all)` carry a list; `is` one of null/true/false/unknown; like/ilike already have `*` as `%`. */
  value: string | string[];
  negate?: boolean;
  /** Text search configuration of fts operators: `fts(english)`. */
  config?: string;
  quantifier?: 'any' | 'all';
}
export interface RestOr {
  or: RestFilter[];
  negate?: boolean;
}
export interface RestAnd {
  and: RestFilter[];
  negate?: boolean;
}
export type RestFilter = RestCondition | RestOr | RestAnd;

export type SelectItem =
  | { type: 'star' }
  | { type: 'column'; name: string; alias?: string }
  | { type: 'embed'; relation: string; alias?: string; inner: boolean; select: readonly SelectItem[] };

export interface OrderTerm {
  column: string;
  direction: 'asc' | 'desc';
  nulls?: 'first' | 'last';
}

/** What applies to one level of the result: the root table, or one embedded relation. */
export interface Scope {
  filters: RestFilter[];
  order: OrderTerm[];
  limit?: number;
  offset?: number;
}

export interface ParsedQuery extends Scope {
  select: readonly SelectItem[];
  /** `analyses.status=eq.done`, `analyses.order=...`: keyed by embedded relation (or alias). */
  embedded: Map<string, Scope>;
  onConflict?: string[];
  /** `columns=` of an insert/upsert: which body keys to use. */
  columns?: string[];
}

const MAX_DEPTH = 8;
const MAX_LENGTH = 16_384;
const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** A reader over one parameter value, with PostgREST-style errors that point at the position. */
class Cursor {
  pos = 0;
  constructor(
    readonly text: string,
    readonly what: string,
  ) {}
  get done() {
    return this.pos >= this.text.length;
  }
  peek(n = 1) {
    return this.text.slice(this.pos, this.pos + n);
  }
  fail(expected: string): never {
    const found = this.done ? 'end of input' : JSON.stringify(this.text[this.pos]);
    throw parseError(`"failed to parse ${this.what} (${this.text})" (line 1, column ${this.pos + 1})`, `unexpected ${found} expecting ${expected}`);
  }
  eat(s: string): boolean {
    if (this.text.startsWith(s, this.pos)) {
      this.pos += s.length;
      return true;
    }
    return false;
  }
  expect(s: string) {
    if (!this.eat(s)) this.fail(JSON.stringify(s));
  }
  /** A double-quoted string; backslash escapes the next character. */
  quoted(): string {
    this.expect('"');
    let out = '';
    while (!this.done && this.peek() !== '"') {
      if (this.peek() === '\\') this.pos++;
      if (this.done) break;
      out += this.text[this.pos++];
    }
    this.expect('"');
    return out;
  }
  /** Characters up to (not including) one of `stops`, or the end. */
  until(stops: string): string {
    const start = this.pos;
    while (!this.done && !stops.includes(this.text[this.pos]!)) this.pos++;
    return this.text.slice(start, this.pos);
  }
  /** A field name: a plain identifier or a double-quoted one. */
  name(stops: string): string {
    if (this.peek() === '"') return this.quoted();
    const name = this.until(stops);
    if (!name) this.fail('a column name');
    return name;
  }
}

function checkLength(value: string, what: string) {
  if (value.length > MAX_LENGTH) throw parseError(`"failed to parse ${what}"`, `longer than ${MAX_LENGTH} characters`);
}

// ---------------------------------------------------------------- select

const STAR: readonly SelectItem[] = [{ type: 'star' }];

// A client sends the same few select lists over and over: each is parsed once (results are
// never modified; a list that fails to parse is not kept).
const parsedSelects = new BoundedMap<string, readonly SelectItem[]>(256);

/** `select=id,title,docs:analyses!inner(kind,status),*` */
export function parseSelect(text: string): readonly SelectItem[] {
  checkLength(text, 'select');
  if (text === '') return STAR;
  let items = parsedSelects.get(text);
  if (items === undefined) {
    const c = new Cursor(text, 'select parameter');
    items = selectList(c, 0);
    if (!c.done) c.fail('"," or end of input');
    parsedSelects.set(text, items);
  }
  return items;
}

function selectList(c: Cursor, depth: number): SelectItem[] {
  const items: SelectItem[] = [];
  do {
    if (depth > 0 && c.peek() === ')' && items.length === 0) break; // `analyses()`
    items.push(selectItem(c, depth));
  } while (c.eat(','));
  return items;
}

function selectItem(c: Cursor, depth: number): SelectItem {
  if (c.eat('*')) return { type: 'star' };
  if (c.peek(3) === '...') throw parseError(`"failed to parse select parameter (${c.text})"`, 'spread embedding (...) is not supported by offbase');
  let name = c.name(',():!');
  let alias: string | undefined;
  if (c.peek() === ':' && c.peek(2) !== '::') {
    c.pos++;
    alias = name;
    name = c.name(',():!');
  }
  if (name.includes('->')) throw parseError(`"failed to parse select parameter (${c.text})"`, 'JSON path selection (->, ->>) is not supported by offbase');
  if (c.peek(2) === '::') throw parseError(`"failed to parse select parameter (${c.text})"`, 'casts (::type) are not supported by offbase');
  let inner = false;
  let hinted = false;
  while (c.eat('!')) {
    const hint = c.until(',()!');
    if (hint === 'inner') inner = true;
    else if (hint === 'left') inner = false;
    else if (hint) hinted = true;
    else c.fail('an embedding hint');
  }
  if (c.eat('(')) {
    if (depth >= 1) throw parseError(`"failed to parse select parameter (${c.text})"`, 'offbase embeds one level deep');
    const select = selectList(c, depth + 1);
    c.expect(')');
    return { type: 'embed', relation: name, ...(alias ? { alias } : {}), inner, select };
  }
  if (hinted || inner) c.fail('"(" after an embedding hint');
  return { type: 'column', name, ...(alias ? { alias } : {}) };
}

// ---------------------------------------------------------------- filters

/** The right-hand side of `col=<value>`: `not.in.(a,"b,c")`, `fts(english).cat`, `is.null`... */
export function parseFilterValue(column: string, text: string): RestCondition {
  checkLength(text, 'filter');
  const c = new Cursor(text, 'filter');
  const condition = operatorAndValue(c, column, false);
  if (!c.done) c.fail('end of input');
  return condition;
}

function operatorAndValue(c: Cursor, column: string, inLogic: boolean): RestCondition {
  const negate = c.eat('not.');
  const opText = c.until('.(');
  if (!(OPERATORS as readonly string[]).includes(opText)) {
    const why = UNSUPPORTED.has(opText) ? `the ${opText} operator is not supported by offbase` : `unknown operator ${JSON.stringify(opText)}`;
    throw parseError(`"failed to parse filter (${c.text})" (line 1, column ${c.pos - opText.length + 1})`, why);
  }
  const op = opText as Operator;
  let config: string | undefined;
  let quantifier: 'any' | 'all' | undefined;
  if (c.eat('(')) {
    const modifier = c.until(')');
    c.expect(')');
    if (FTS_OPERATORS.includes(op)) {
      if (!IDENT.test(modifier)) c.fail('a text search configuration name');
      config = modifier;
    } else if ((modifier === 'any' || modifier === 'all') && QUANTIFIABLE.includes(op)) {
      quantifier = modifier;
    } else {
      c.fail(`a valid modifier for ${op}`);
    }
  }
  c.expect('.');
  let value: string | string[];
  if (op === 'in') value = list(c, '(', ')');
  else if (quantifier) value = list(c, '{', '}');
  else value = inLogic ? logicValue(c) : c.until('');
  if (op === 'is') {
    const v = (value as string).toLowerCase();
    if (!['null', 'true', 'false', 'unknown'].includes(v)) throw parseError(`"failed to parse filter (${c.text})"`, 'is accepts null, true, false or unknown');
    value = v;
  }
  if (op === 'like' || op === 'ilike') value = Array.isArray(value) ? value.map(star) : star(value);
  return { column, op, value, ...(negate ? { negate } : {}), ...(config ? { config } : {}), ...(quantifier ? { quantifier } : {}) };
}

/** PostgREST lets URLs use `*` for SQL's `%` (which needs escaping in a URL). */
const star = (pattern: string) => pattern.replaceAll('*', '%');

/** `(a,"b,c",d)`: elements may be double-quoted to hold commas, parentheses and quotes. */
function list(c: Cursor, open: string, close: string): string[] {
  c.expect(open);
  const values: string[] = [];
  if (c.eat(close)) return values;
  do {
    values.push(c.peek() === '"' ? c.quoted() : c.until(`,${close}`));
  } while (c.eat(','));
  c.expect(close);
  return values;
}

/** A value inside `or=(...)`: quoted, a `{...}` array literal, or text up to `,` or `)`. */
function logicValue(c: Cursor): string {
  if (c.peek() === '"') return c.quoted();
  if (c.peek() === '{') {
    const start = c.pos;
    c.until('}');
    c.expect('}');
    return c.text.slice(start, c.pos);
  }
  return c.until(',)');
}

/** `or=(a.eq.1,and(b.gt.2,c.is.null),not.or(d.eq.x,e.eq.y))` */
export function parseLogic(kind: 'or' | 'and', text: string, negate = false): RestOr | RestAnd {
  checkLength(text, 'logic tree');
  const c = new Cursor(text, 'logic tree');
  const tree = logicGroup(c, kind, negate, 0);
  if (!c.done) c.fail('end of input');
  return tree;
}

function logicGroup(c: Cursor, kind: 'or' | 'and', negate: boolean, depth: number): RestOr | RestAnd {
  if (depth > MAX_DEPTH) throw parseError(`"failed to parse logic tree (${c.text})"`, `nested deeper than ${MAX_DEPTH} levels`);
  c.expect('(');
  const children: RestFilter[] = [];
  do {
    children.push(logicItem(c, depth));
  } while (c.eat(','));
  c.expect(')');
  return kind === 'or' ? { or: children, ...(negate ? { negate } : {}) } : { and: children, ...(negate ? { negate } : {}) };
}

function logicItem(c: Cursor, depth: number): RestFilter {
  const negate = c.peek(4) === 'not.' && /^(or|and)\(/.test(c.text.slice(c.pos + 4)) ? c.eat('not.') : false;
  for (const kind of ['or', 'and'] as const) {
    if (c.text.startsWith(`${kind}(`, c.pos)) {
      c.pos += kind.length;
      return logicGroup(c, kind, negate, depth + 1);
    }
  }
  const column = c.name('.,()');
  c.expect('.');
  return operatorAndValue(c, column, true);
}

// ---------------------------------------------------------------- order

/** `order=title.asc,created_at.desc.nullslast` */
export function parseOrder(text: string): OrderTerm[] {
  checkLength(text, 'order');
  const c = new Cursor(text, 'order');
  const terms: OrderTerm[] = [];
  do {
    const column = c.name('.,()');
    if (c.peek() === '(') throw parseError(`"failed to parse order (${text})"`, 'ordering by an embedded resource is not supported by offbase');
    const term: OrderTerm = { column, direction: 'asc' };
    let seenDirection = false;
    while (c.eat('.')) {
      const word = c.until('.,');
      if (!seenDirection && (word === 'asc' || word === 'desc')) {
        term.direction = word;
        seenDirection = true;
      } else if (!term.nulls && (word === 'nullsfirst' || word === 'nullslast')) {
        term.nulls = word === 'nullsfirst' ? 'first' : 'last';
        seenDirection = true;
      } else {
        c.pos -= word.length;
        c.fail('"asc", "desc", "nullsfirst" or "nullslast"');
      }
    }
    terms.push(term);
  } while (c.eat(','));
  if (!c.done) c.fail('"," or end of input');
  return terms;
}

// ---------------------------------------------------------------- the whole query string

function nonNegativeInt(key: string, value: string): number {
  if (!/^\d{1,9}$/.test(value)) throw parseError(`"failed to parse ${key} parameter (${value})"`, `${key} must be a non-negative integer`);
  return Number(value);
}

function columnList(key: string, value: string): string[] {
  const c = new Cursor(value, `${key} parameter`);
  const names: string[] = [];
  do names.push(c.name(','));
  while (c.eat(','));
  if (!c.done) c.fail('"," or end of input');
  return names;
}

const ROOT_ONLY = new Set(['select', 'on_conflict', 'columns']);

/** Every parameter of a /rest/v1 URL, in order (repeated keys are separate entries). */
export function parseQuery(params: Iterable<[string, string]>): ParsedQuery {
  const query: ParsedQuery = { select: STAR, filters: [], order: [], embedded: new Map() };
  const scopeOf = (path: string[]): Scope => {
    if (path.length === 0) return query;
    if (path.length > 1) throw parseError(`"failed to parse ${path.join('.')}"`, 'offbase embeds one level deep');
    const name = path[0]!;
    let scope = query.embedded.get(name);
    if (!scope) query.embedded.set(name, (scope = { filters: [], order: [] }));
    return scope;
  };
  for (const [key, value] of params) {
    if (ROOT_ONLY.has(key)) {
      if (key === 'select') query.select = parseSelect(value);
      else if (key === 'on_conflict') query.onConflict = columnList(key, value);
      else query.columns = columnList(key, value);
      continue;
    }
    const parts = key.split('.');
    // `not.or=(...)` / `analyses.not.and=(...)`
    const negatedLogic = parts.length >= 2 && parts.at(-2) === 'not' && (parts.at(-1) === 'or' || parts.at(-1) === 'and');
    const last = parts.at(-1)!;
    const path = parts.slice(0, negatedLogic ? -2 : -1);
    if (path.some((p) => !p)) throw parseError(`"failed to parse filter (${key})"`, 'empty name');
    const scope = scopeOf(path);
    if (last === 'or' || last === 'and') scope.filters.push(parseLogic(last, value, negatedLogic));
    else if (last === 'order') scope.order.push(...parseOrder(value));
    else if (last === 'limit') scope.limit = nonNegativeInt(key, value);
    else if (last === 'offset') scope.offset = nonNegativeInt(key, value);
    else if (!last) throw parseError(`"failed to parse filter (${key})"`, 'empty column name');
    else scope.filters.push(parseFilterValue(last, value));
  }
  return query;
}

// ---------------------------------------------------------------- headers

export interface Preferences {
  return: 'representation' | 'minimal' | 'headers-only';
  count?: 'exact' | 'planned' | 'estimated';
  resolution?: 'merge-duplicates' | 'ignore-duplicates';
  missing: 'default' | 'null';
  handling: 'strict' | 'lenient';
  maxAffected?: number;
}

const PREFERENCES = new Map<string, readonly string[]>([
  ['return', ['representation', 'minimal', 'headers-only']],
  ['count', ['exact', 'planned', 'estimated']],
  ['resolution', ['merge-duplicates', 'ignore-duplicates']],
  ['missing', ['default', 'null']],
  ['handling', ['strict', 'lenient']],
  ['tx', ['commit', 'rollback']],
]);

/**
 * `Prefer: return=representation, count=exact` (one header or several). Unknown or invalid
 * preferences are ignored, as PostgREST does, unless `handling=strict` asks for PGRST122.
 */
export function parsePrefer(header: string | string[] | undefined): Preferences {
  const prefs: Preferences = { return: 'minimal', missing: 'null', handling: 'lenient' };
  const raw = (Array.isArray(header) ? header.join(',') : (header ?? '')).split(',').map((p) => p.trim()).filter(Boolean);
  const invalid: string[] = [];
  for (const item of raw) {
    const [key = '', value = ''] = item.split('=', 2).map((s) => s.trim());
    if (key === 'max-affected' && /^\d{1,9}$/.test(value)) {
      prefs.maxAffected = Number(value);
      continue;
    }
    if (key === 'timezone' || key === 'params') continue;
    if (!PREFERENCES.get(key)?.includes(value)) {
      invalid.push(item);
      continue;
    }
    if (key === 'tx') continue;
    (prefs as unknown as Record<string, string>)[key] = value;
  }
  if (prefs.handling === 'strict' && invalid.length) {
    throw new PostgrestError(400, 'PGRST122', 'Invalid preferences given with handling=strict', `Invalid preferences: ${invalid.join(', ')}`);
  }
  return prefs;
}

export interface RangeRequest {
  offset: number;
  /** Absent for an open range (`10-`). */
  limit?: number;
}

/** `Range: 0-9` (items); `Range-Unit` other than items is ignored as PostgREST does. */
export function parseRange(header: string | undefined): RangeRequest | null {
  if (header === undefined || header.trim() === '') return null;
  const m = /^\s*(?:items=)?(\d{1,9})-(\d{0,9})\s*$/.exec(header);
  if (!m) throw invalidRange(`The Range header ${JSON.stringify(header)} is not of the form <first>-<last>`);
  const first = Number(m[1]);
  if (m[2] === '') return { offset: first };
  const last = Number(m[2]);
  if (last < first) throw invalidRange(`The lower boundary must be lower than or equal to the upper boundary in the Range header.`);
  return { offset: first, limit: last - first + 1 };
}

/** Limit and offset from the query string and the Range header together: the narrower wins. */
export function effectiveRange(scope: Pick<Scope, 'limit' | 'offset'>, range: RangeRequest | null): { limit?: number; offset: number } {
  const offset = Math.max(scope.offset ?? 0, range?.offset ?? 0);
  const ends = [scope.limit === undefined ? undefined : (scope.offset ?? 0) + scope.limit, range?.limit === undefined ? undefined : range.offset + range.limit].filter(
    (e): e is number => e !== undefined,
  );
  if (!ends.length) return { offset };
  return { offset, limit: Math.max(0, Math.min(...ends) - offset) };
}

export interface Representation {
  /** application/vnd.pgrst.object+json: exactly one row, as an object. */
  single: boolean;
  /** `;nulls=stripped`: drop null-valued keys. */
  stripNulls: boolean;
}

/** The response shape the Accept header asks for; 406 PGRST107 for what offbase cannot produce. */
export function parseAccept(header: string | undefined): Representation {
  if (!header || header.trim() === '') return { single: false, stripNulls: false };
  const types = header.split(',').map((t) => {
    const [type = '', ...params] = t.split(';').map((s) => s.trim().toLowerCase());
    return { type, stripNulls: params.includes('nulls=stripped') };
  });
  for (const t of types) {
    if (t.type === 'application/vnd.pgrst.object+json' || t.type === 'application/vnd.pgrst.object') return { single: true, stripNulls: t.stripNulls };
    if (['application/json', 'application/vnd.pgrst.array+json', '*/*', 'application/*'].includes(t.type)) return { single: false, stripNulls: t.stripNulls };
  }
  throw new PostgrestError(406, 'PGRST107', `None of these media types are available: ${header}`);
}

/** Content-Range for a result: `0-9/42`, `*\/42` for no rows, total `*` when not counted. */
export function contentRange(offset: number, rows: number, total: number | null): string {
  const span = rows > 0 ? `${offset}-${offset + rows - 1}` : '*';
  return `${span}/${total ?? '*'}`;
}
