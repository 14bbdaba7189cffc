import { describe, expect, it } from 'vitest';
import { PostgrestError } from '../../../../src/features/compat/rest/errors.js';
import { parseQuery } from '../../../../src/features/compat/rest/parser.js';
import { parseArrayLiteral, resolveFilters, resolveOrder, resolveSelect } from '../../../../src/features/compat/rest/resolve.js';
import { analysesResource } from '../../../../src/features/analyses/analyses.resource.js';
import { documentsResource } from '../../../../src/features/documents/documents.resource.js';

const RESOURCES = { documents: documentsResource, analyses: analysesResource };

// The parsed URL against the allowlist: pure, no database.

const documents = RESOURCES.documents;
const query = (qs: string) => parseQuery(new URLSearchParams(qs));

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(PostgrestError);
    return (err as PostgrestError).code;
  }
  throw new Error('expected an error');
}

describe('resolve', () => {
  it('reads PostgreSQL array literals', () => {
    expect(parseArrayLiteral('{a,b}')).toEqual(['a', 'b']);
    expect(parseArrayLiteral('{}')).toEqual([]);
    expect(parseArrayLiteral('{"a b","c,d","e\\"f"}')).toEqual(['a b', 'c,d', 'e"f']);
    expect(parseArrayLiteral('a,b')).toBeNull();
  });

  it('expands * to every column but the search vector, and checks names', () => {
    const p = resolveSelect(documents, query('select=*'));
    expect(p.fields.map((f) => f.key)).toContain('content_text');
    expect(p.fields.map((f) => f.key)).not.toContain('search');
    expect(code(() => resolveSelect(documents, query('select=search')))).toBe('42703');
    expect(code(() => resolveSelect(documents, query('select=id,owners(email)')))).toBe('PGRST200');
    expect(code(() => resolveSelect(documents, query('select=id,analyses(nope)')))).toBe('42703');
    expect(code(() => resolveSelect(documents, query('select=id&analyses.status=eq.x')))).toBe('PGRST108');
    expect(resolveSelect(documents, query('select=id,analyses(count)')).embeds[0]).toMatchObject({ count: true, key: 'analyses' });
  });

  it('types values for the query module: arrays for text[], (any) as an or-group, is null as null', () => {
    expect(resolveFilters(documents, query('tags=cs.{a,"b c"}').filters)).toEqual([{ column: 'tags', op: 'cs', value: ['a', 'b c'] }]);
    expect(resolveFilters(documents, query('title=like(any).{a*,b*}').filters)).toEqual([
      { or: [{ column: 'title', op: 'like', value: 'a%' }, { column: 'title', op: 'like', value: 'b%' }] },
    ]);
    expect(resolveFilters(documents, query('description=not.is.null').filters)).toEqual([{ column: 'description', op: 'is', value: null, negate: true }]);
    expect(resolveFilters(documents, query('search=wfts(simple).cat').filters)).toEqual([{ column: 'search', op: 'wfts', value: 'cat', config: 'simple' }]);
    expect(code(() => resolveFilters(documents, query('tags=cs.a,b').filters))).toBe('22P02');
    expect(code(() => resolveFilters(documents, query('or=(nope.eq.1)').filters))).toBe('42703');
  });

  it('orders by scalar columns only', () => {
    expect(resolveOrder(documents, query('order=status.desc.nullslast').order)).toEqual([{ column: 'status', direction: 'desc', nulls: 'last' }]);
    expect(code(() => resolveOrder(documents, query('order=tags').order))).toBe('PGRST100');
    expect(code(() => resolveOrder(documents, query('order=nope').order))).toBe('42703');
  });
});
