import { describe, expect, it } from 'vitest';
import { PostgrestError } from '../../../../src/features/compat/rest/errors.js';
import {
  contentRange,
  effectiveRange,
  parseAccept,
  parseFilterValue,
  parseLogic,
  parseOrder,
  parsePrefer,
  parseQuery,
  parseRange,
  parseSelect,
} from '../../../../src/features/compat/rest/parser.js';

// The PostgREST grammar, pure: no database. Each case is what supabase-js (or a hand-written
// URL) sends, and the AST offbase must read out of it.

function failure(fn: () => unknown): PostgrestError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(PostgrestError);
    return err as PostgrestError;
  }
  throw new Error('expected a PostgrestError');
}

const params = (qs: string) => [...new URLSearchParams(qs)];

describe('select', () => {
  it('reads *, column lists, aliases and an empty select as *', () => {
    expect(parseSelect('*')).toEqual([{ type: 'star' }]);
    expect(parseSelect('')).toEqual([{ type: 'star' }]);
    expect(parseSelect('id,title')).toEqual([
      { type: 'column', name: 'id' },
      { type: 'column', name: 'title' },
    ]);
    expect(parseSelect('name:title,id')).toEqual([
      { type: 'column', name: 'title', alias: 'name' },
      { type: 'column', name: 'id' },
    ]);
    expect(parseSelect('"title"')).toEqual([{ type: 'column', name: 'title' }]);
  });

  it('reads one level of embedding, with alias, !inner and fk hints', () => {
    expect(parseSelect('id,analyses(kind,status)')).toEqual([
      { type: 'column', name: 'id' },
      { type: 'embed', relation: 'analyses', inner: false, select: [{ type: 'column', name: 'kind' }, { type: 'column', name: 'status' }] },
    ]);
    expect(parseSelect('*,runs:analyses!inner(*)')).toEqual([
      { type: 'star' },
      { type: 'embed', relation: 'analyses', alias: 'runs', inner: true, select: [{ type: 'star' }] },
    ]);
    expect(parseSelect('analyses!analyses_document_id_fkey(id)')).toEqual([
      { type: 'embed', relation: 'analyses', inner: false, select: [{ type: 'column', name: 'id' }] },
    ]);
    expect(parseSelect('analyses(count)')).toEqual([{ type: 'embed', relation: 'analyses', inner: false, select: [{ type: 'column', name: 'count' }] }]);
    expect(parseSelect('analyses()')).toEqual([{ type: 'embed', relation: 'analyses', inner: false, select: [] }]);
  });

  it('refuses what it does not support with PGRST100', () => {
    for (const bad of ['id,,title', 'a(b(c))', 'metadata->>x', 'id::text', '...analyses(kind)', 'analyses(kind', 'analyses!inner', 'id)']) {
      const err = failure(() => parseSelect(bad));
      expect(err.statusCode, bad).toBe(400);
      expect(err.code, bad).toBe('PGRST100');
      expect(err.toJSON()).toMatchObject({ code: 'PGRST100', hint: null });
    }
  });
});

describe('filters', () => {
  it('reads every operator', () => {
    for (const op of ['eq', 'neq', 'gt', 'gte', 'lt', 'lte', 'cs', 'cd'] as const) {
      expect(parseFilterValue('c', `${op}.x`)).toEqual({ column: 'c', op, value: 'x' });
    }
    expect(parseFilterValue('title', 'like.*report*')).toEqual({ column: 'title', op: 'like', value: '%report%' });
    expect(parseFilterValue('title', 'ilike.Q*_2')).toEqual({ column: 'title', op: 'ilike', value: 'Q%_2' });
    expect(parseFilterValue('tags', 'cs.{a,b}')).toEqual({ column: 'tags', op: 'cs', value: '{a,b}' });
    expect(parseFilterValue('metadata', 'cd.{"a":1}')).toEqual({ column: 'metadata', op: 'cd', value: '{"a":1}' });
  });

  it('keeps the whole rest of a top-level value, dots, commas and quotes included', () => {
    expect(parseFilterValue('title', 'eq.a.b,c')).toEqual({ column: 'title', op: 'eq', value: 'a.b,c' });
    expect(parseFilterValue('title', 'eq."quoted"')).toEqual({ column: 'title', op: 'eq', value: '"quoted"' });
    expect(parseFilterValue('title', 'eq.')).toEqual({ column: 'title', op: 'eq', value: '' });
  });

  it('reads in-lists with PostgREST quoting', () => {
    expect(parseFilterValue('status', 'in.(ready,failed)')).toEqual({ column: 'status', op: 'in', value: ['ready', 'failed'] });
    expect(parseFilterValue('title', 'in.("a,b","c)d",plain)')).toEqual({ column: 'title', op: 'in', value: ['a,b', 'c)d', 'plain'] });
    expect(parseFilterValue('title', 'in.("say \\"hi\\"","back\\\\slash")')).toEqual({ column: 'title', op: 'in', value: ['say "hi"', 'back\\slash'] });
    expect(parseFilterValue('title', 'in.()')).toEqual({ column: 'title', op: 'in', value: [] });
    expect(failure(() => parseFilterValue('title', 'in.(a,b')).code).toBe('PGRST100');
    expect(failure(() => parseFilterValue('title', 'in.a,b')).code).toBe('PGRST100');
  });

  it('reads is with null, true, false, unknown only', () => {
    expect(parseFilterValue('description', 'is.null')).toEqual({ column: 'description', op: 'is', value: 'null' });
    expect(parseFilterValue('description', 'is.NULL')).toEqual({ column: 'description', op: 'is', value: 'null' });
    expect(parseFilterValue('flag', 'is.true').value).toBe('true');
    expect(parseFilterValue('flag', 'not.is.false')).toEqual({ column: 'flag', op: 'is', value: 'false', negate: true });
    expect(failure(() => parseFilterValue('description', 'is.nothing')).code).toBe('PGRST100');
  });

  it('reads not. and full-text operators with a configuration', () => {
    expect(parseFilterValue('status', 'not.eq.ready')).toEqual({ column: 'status', op: 'eq', value: 'ready', negate: true });
    expect(parseFilterValue('status', 'not.in.(a,b)')).toEqual({ column: 'status', op: 'in', value: ['a', 'b'], negate: true });
    expect(parseFilterValue('search', 'fts.cat & dog')).toEqual({ column: 'search', op: 'fts', value: 'cat & dog' });
    expect(parseFilterValue('search', 'fts(english).cat')).toEqual({ column: 'search', op: 'fts', value: 'cat', config: 'english' });
    expect(parseFilterValue('search', 'plfts.fat cats')).toEqual({ column: 'search', op: 'plfts', value: 'fat cats' });
    expect(parseFilterValue('search', 'phfts(simple).fat cats')).toEqual({ column: 'search', op: 'phfts', value: 'fat cats', config: 'simple' });
    expect(parseFilterValue('search', 'wfts."fat cat" -dog')).toEqual({ column: 'search', op: 'wfts', value: '"fat cat" -dog' });
    expect(parseFilterValue('search', 'not.wfts.cat')).toMatchObject({ op: 'wfts', negate: true });
  });

  it('reads (any) and (all) quantifiers over a {list}', () => {
    expect(parseFilterValue('title', 'like(any).{a*,*b}')).toEqual({ column: 'title', op: 'like', quantifier: 'any', value: ['a%', '%b'] });
    expect(parseFilterValue('status', 'eq(all).{x,"y,z"}')).toEqual({ column: 'status', op: 'eq', quantifier: 'all', value: ['x', 'y,z'] });
  });

  it('refuses unknown operators, bad modifiers and a config that is not a name', () => {
    for (const bad of ['eqx.1', 'foo', '', 'not.not.eq.1', 'ov.{1}', 'match.^a', 'fts(eng lish).x', 'fts(english', 'in(any).{a}', 'cs(any).{a}', 'eq']) {
      const err = failure(() => parseFilterValue('c', bad));
      expect(err.code, bad).toBe('PGRST100');
      expect(err.statusCode, bad).toBe(400);
    }
    expect(failure(() => parseFilterValue('c', 'ov.{1}')).details).toMatch(/not supported/);
    expect(failure(() => parseFilterValue('c', 'eqx.1')).details).toMatch(/unknown operator "eqx"/);
  });
});

describe('logic trees', () => {
  it('reads or/and with nesting and not.', () => {
    expect(parseLogic('or', '(a.eq.1,b.gt.2)')).toEqual({
      or: [
        { column: 'a', op: 'eq', value: '1' },
        { column: 'b', op: 'gt', value: '2' },
      ],
    });
    expect(parseLogic('and', '(a.eq.1,or(b.is.null,c.not.in.(x,y)),not.and(d.lt.5,e.like.*z))', true)).toEqual({
      negate: true,
      and: [
        { column: 'a', op: 'eq', value: '1' },
        { or: [{ column: 'b', op: 'is', value: 'null' }, { column: 'c', op: 'in', value: ['x', 'y'], negate: true }] },
        { negate: true, and: [{ column: 'd', op: 'lt', value: '5' }, { column: 'e', op: 'like', value: '%z' }] },
      ],
    });
  });

  it('reads quoted values, array literals and fts inside a tree', () => {
    expect(parseLogic('or', '(title.eq."a,b (c)",tags.cs.{x,y},search.fts(english).cat,title.ilike.*q*)')).toEqual({
      or: [
        { column: 'title', op: 'eq', value: 'a,b (c)' },
        { column: 'tags', op: 'cs', value: '{x,y}' },
        { column: 'search', op: 'fts', value: 'cat', config: 'english' },
        { column: 'title', op: 'ilike', value: '%q%' },
      ],
    });
  });

  it('refuses malformed trees and runaway nesting', () => {
    for (const bad of ['a.eq.1', '(a.eq.1', '()', '(a.eq.1,)', '(a.eq.1))', '(a.zz.1)', '(a)']) {
      expect(failure(() => parseLogic('or', bad)).code, bad).toBe('PGRST100');
    }
    const deep = `${'(or'.repeat(12)}(a.eq.1${')'.repeat(13)}`;
    expect(failure(() => parseLogic('or', deep.slice(3))).code).toBe('PGRST100');
  });
});

describe('order', () => {
  it('reads several terms with direction and nulls', () => {
    expect(parseOrder('title')).toEqual([{ column: 'title', direction: 'asc' }]);
    expect(parseOrder('created_at.desc,title.asc.nullsfirst,size_bytes.nullslast')).toEqual([
      { column: 'created_at', direction: 'desc' },
      { column: 'title', direction: 'asc', nulls: 'first' },
      { column: 'size_bytes', direction: 'asc', nulls: 'last' },
    ]);
  });

  it('refuses unknown words and ordering by an embedding', () => {
    for (const bad of ['title.up', 'title.asc.desc', 'title.nullsfirst.nullslast', 'title.', ',title', 'analyses(created_at).desc']) {
      expect(failure(() => parseOrder(bad)).code, bad).toBe('PGRST100');
    }
  });
});

describe('the whole query string', () => {
  it('splits root filters, embedded scopes, order, limit, offset, on_conflict and columns', () => {
    const q = parseQuery(
      params(
        'select=id,analyses(kind)&status=eq.ready&created_at=gte.2026-01-01&created_at=lt.2026-02-01&or=(a.eq.1,b.eq.2)&not.and=(c.eq.1,d.eq.2)' +
          '&order=title.desc&limit=10&offset=20&analyses.status=eq.done&analyses.order=created_at.desc&analyses.limit=2&on_conflict=s3_bucket,s3_key&columns="title","s3_key"',
      ),
    );
    expect(q.select).toHaveLength(2);
    expect(q.filters).toEqual([
      { column: 'status', op: 'eq', value: 'ready' },
      { column: 'created_at', op: 'gte', value: '2026-01-01' },
      { column: 'created_at', op: 'lt', value: '2026-02-01' },
      { or: [{ column: 'a', op: 'eq', value: '1' }, { column: 'b', op: 'eq', value: '2' }] },
      { and: [{ column: 'c', op: 'eq', value: '1' }, { column: 'd', op: 'eq', value: '2' }], negate: true },
    ]);
    expect(q.order).toEqual([{ column: 'title', direction: 'desc' }]);
    expect(q.limit).toBe(10);
    expect(q.offset).toBe(20);
    expect(q.embedded).toEqual(new Map([['analyses', { filters: [{ column: 'status', op: 'eq', value: 'done' }], order: [{ column: 'created_at', direction: 'desc' }], limit: 2 }]]));
    expect(q.onConflict).toEqual(['s3_bucket', 's3_key']);
    expect(q.columns).toEqual(['title', 's3_key']);
  });

  it('decodes what URLSearchParams encodes (supabase-js builds URLs with it)', () => {
    const url = new URL('http://x/rest/v1/documents');
    url.searchParams.append('title', 'eq.a b&c=d+e');
    url.searchParams.append('search', 'wfts(english).cats -dogs');
    const q = parseQuery(url.searchParams);
    expect(q.filters).toEqual([
      { column: 'title', op: 'eq', value: 'a b&c=d+e' },
      { column: 'search', op: 'wfts', value: 'cats -dogs', config: 'english' },
    ]);
  });

  it('refuses bad limits, deep paths and empty names', () => {
    for (const qs of ['limit=-1', 'limit=abc', 'offset=1.5', 'a.b.c=eq.1', '.x=eq.1', 'status=ready']) {
      expect(failure(() => parseQuery(params(qs))).code, qs).toBe('PGRST100');
    }
  });
});

describe('headers', () => {
  it('reads Prefer from one header or several, ignoring what it does not know', () => {
    expect(parsePrefer(undefined)).toEqual({ return: 'minimal', missing: 'null', handling: 'lenient' });
    expect(parsePrefer('return=representation, count=exact')).toMatchObject({ return: 'representation', count: 'exact' });
    expect(parsePrefer(['resolution=merge-duplicates', 'missing=default,count=planned'])).toMatchObject({ resolution: 'merge-duplicates', missing: 'default', count: 'planned' });
    expect(parsePrefer('resolution=ignore-duplicates,return=minimal,tx=rollback,timezone=UTC,max-affected=5')).toMatchObject({ resolution: 'ignore-duplicates', return: 'minimal', maxAffected: 5 });
    expect(parsePrefer('count=everything, return=nothing')).toEqual({ return: 'minimal', missing: 'null', handling: 'lenient' });
    const strict = failure(() => parsePrefer('handling=strict, count=everything'));
    expect(strict.code).toBe('PGRST122');
    expect(strict.statusCode).toBe(400);
  });

  it('reads Range and combines it with limit/offset', () => {
    expect(parseRange(undefined)).toBeNull();
    expect(parseRange('0-9')).toEqual({ offset: 0, limit: 10 });
    expect(parseRange('5-')).toEqual({ offset: 5 });
    expect(parseRange('items=2-2')).toEqual({ offset: 2, limit: 1 });
    for (const bad of ['9-0', 'a-b', '-5', '1-2-3']) {
      const err = failure(() => parseRange(bad));
      expect(err.statusCode, bad).toBe(416);
      expect(err.code, bad).toBe('PGRST103');
    }
    expect(effectiveRange({}, null)).toEqual({ offset: 0 });
    expect(effectiveRange({ limit: 10 }, null)).toEqual({ offset: 0, limit: 10 });
    expect(effectiveRange({ limit: 10, offset: 5 }, { offset: 0, limit: 8 })).toEqual({ offset: 5, limit: 3 });
    expect(effectiveRange({}, { offset: 3 })).toEqual({ offset: 3 });
    expect(effectiveRange({ limit: 2 }, { offset: 5, limit: 5 })).toEqual({ offset: 5, limit: 0 });
  });

  it('reads Accept: object for .single(), array otherwise, 406 for what it cannot produce', () => {
    expect(parseAccept(undefined)).toEqual({ single: false, stripNulls: false });
    expect(parseAccept('application/vnd.pgrst.object+json')).toEqual({ single: true, stripNulls: false });
    expect(parseAccept('application/vnd.pgrst.object+json;nulls=stripped')).toEqual({ single: true, stripNulls: true });
    expect(parseAccept('application/vnd.pgrst.array+json;nulls=stripped')).toEqual({ single: false, stripNulls: true });
    expect(parseAccept('*/*')).toEqual({ single: false, stripNulls: false });
    expect(parseAccept('text/csv, application/json')).toEqual({ single: false, stripNulls: false });
    const err = failure(() => parseAccept('text/csv'));
    expect(err.statusCode).toBe(406);
    expect(err.code).toBe('PGRST107');
  });

  it('writes Content-Range as PostgREST does', () => {
    expect(contentRange(0, 10, 42)).toBe('0-9/42');
    expect(contentRange(5, 1, null)).toBe('5-5/*');
    expect(contentRange(0, 0, 0)).toBe('*/0');
  });
});
