import { and, eq, sql, type SQL } from 'drizzle-orm';
import { PgDialect } from 'drizzle-orm/pg-core';
import type { Db, DbOrTx } from '../../db/client.js';
import { rawRows, statementCache } from '../../db/prepared.js';
import { documents } from '../../db/schema/index.js';
import type { Actor } from '../../context/index.js';
import { ownRows, ownerScope as scopeOf } from '../../query/index.js';
import type { DocumentCreate, DocumentPatch } from './schemas.js';

// A strong validator for the row version: xmin changes with every committed UPDATE of the
// row (including the analysis_count trigger's), and hashing it with the id keeps it opaque.
export const etagSql = sql<string>`md5(${documents.id}::text || ':' || "documents"."xmin"::text)`;

export const documentColumns = {
  id: documents.id,
  owner_id: documents.owner_id,
  title: documents.title,
  description: documents.description,
  status: documents.status,
  s3_bucket: documents.s3_bucket,
  s3_key: documents.s3_key,
  content_type: documents.content_type,
  size_bytes: documents.size_bytes,
  sha256: documents.sha256,
  tags: documents.tags,
  metadata: documents.metadata,
  analysis_count: documents.analysis_count,
  created_at: documents.created_at,
  updated_at: documents.updated_at,
};
export const withContent = { ...documentColumns, content_text: documents.content_text, etag: etagSql };

export type DocumentRow = { [K in keyof typeof documentColumns]: (typeof documents.$inferSelect)[K] };
export type FullDocumentRow = DocumentRow & { content_text: string | null; etag: string };

/** owner_id = the caller, always, unless admin powers apply; an owner_id filter can only narrow. */
export const ownerScope = (actor: Actor, ownerId?: string): SQL | undefined => scopeOf(actor, documents.owner_id, ownerId);

export async function getDocument(db: DbOrTx, actor: Actor, id: string, lock = false): Promise<FullDocumentRow | undefined> {
  const query = db.select(withContent).from(documents).where(and(eq(documents.id, id), ownerScope(actor))).limit(1);
  const [row] = lock ? await query.for('update') : await query;
  return row;
}

/** null when (owner, s3_bucket, s3_key) is taken. */
export async function insertDocument(db: DbOrTx, ownerId: string, input: DocumentCreate): Promise<FullDocumentRow | null> {
  const [row] = await db.insert(documents).values({ ...input, owner_id: ownerId }).onConflictDoNothing().returning(withContent);
  return row ?? null;
}

// The batch travels as ONE jsonb parameter expanded by jsonb_to_recordset: one INSERT, one
// statement text whatever the batch size (so it is prepared once), and no 13-column x
// 1000-row parameter list for the query builder to assemble (several times slower).
const BATCH_COLUMNS = sql.raw(
  'title text, description text, status text, s3_bucket text, s3_key text, content_type text, size_bytes bigint, sha256 text, content_text text, tags text[], metadata jsonb',
);
const returningFull = sql.join([...Object.values(documentColumns).map((c) => sql`${c}`), sql`${documents.content_text}`, sql`${etagSql} as etag`], sql`, `);

/** The batch's multi-row INSERT, without RETURNING; rows that collide with existing ones are skipped. */
export const batchInsert = (ownerId: string, inputs: DocumentCreate[]): SQL => sql`
    insert into ${documents} (owner_id, title, description, status, s3_bucket, s3_key, content_type, size_bytes, sha256, content_text, tags, metadata)
    select ${ownerId}::uuid, x.title, x.description, coalesce(x.status, 'uploaded'), x.s3_bucket, x.s3_key, x.content_type,
           x.size_bytes, x.sha256, x.content_text, coalesce(x.tags, '{}'), coalesce(x.metadata, '{}')
    from jsonb_to_recordset(${JSON.stringify(inputs)}::jsonb) as x(${BATCH_COLUMNS})
    on conflict do nothing`;

/** One multi-row INSERT; the rows that collided with existing ones are simply absent. */
export async function insertDocuments(db: DbOrTx, ownerId: string, inputs: DocumentCreate[]): Promise<FullDocumentRow[]> {
  const rows = await db.execute<FullDocumentRow>(sql`${batchInsert(ownerId, inputs)}
    returning ${returningFull}`);
  return [...rows];
}

export async function findByS3Key(db: DbOrTx, ownerId: string, bucket: string, key: string, lock = false): Promise<FullDocumentRow | undefined> {
  const query = db
    .select(withContent)
    .from(documents)
    .where(and(eq(documents.owner_id, ownerId), eq(documents.s3_bucket, bucket), eq(documents.s3_key, key)))
    .limit(1);
  const [row] = lock ? await query.for('update') : await query;
  return row;
}

/** INSERT ... ON CONFLICT DO UPDATE of the given fields; `inserted` from xmax = 0. */
export async function upsertDocument(db: DbOrTx, ownerId: string, input: DocumentCreate): Promise<FullDocumentRow & { inserted: boolean }> {
  const { s3_bucket: _b, s3_key: _k, ...set } = input;
  const [row] = await db
    .insert(documents)
    .values({ ...input, owner_id: ownerId })
    .onConflictDoUpdate({ target: [documents.owner_id, documents.s3_bucket, documents.s3_key], set })
    .returning({ ...withContent, inserted: sql<boolean>`("documents"."xmax" = 0)` });
  return row!;
}

/** The patch of one visible row (the upserts' update branch). */
export async function updateDocument(db: DbOrTx, actor: Actor, id: string, patch: DocumentPatch): Promise<FullDocumentRow | undefined> {
  const [row] = await db.update(documents).set(patch).where(and(eq(documents.id, id), ownerScope(actor))).returning(withContent);
  return row;
}

export interface SearchRow extends DocumentRow {
  rank: number;
  snippet: string;
}

// Markers ts_headline puts around matches; stripped from the text first so only PostgreSQL
// can produce them, then turned into <b></b> after the snippet is HTML-escaped.
export const MARK_START = '\u0002';
export const MARK_END = '\u0003';
const HEADLINE_OPTIONS = `StartSel=${MARK_START}, StopSel=${MARK_END}, MaxWords=35, MinWords=15, MaxFragments=2, FragmentDelimiter=" … "`;

// Snippets come from the title and the description when they hold a query word, and from
// windows of content_text around the first occurrence of each query word (SNIPPET_BEFORE
// characters before it, SNIPPET_WINDOW in all), not from the whole text: ts_headline parses
// and stems every word it is given, which made 20 snippets of ~3 KB most of a search's cost,
// and finding a stem with a regular expression is far cheaper per character than that parse.
const SNIPPET_BEFORE = 60;
const SNIPPET_WINDOW = 280;
const literal = (s: string) => `'${s.replaceAll("'", "''")}'`;

/**
 * The `q` CTE's words: a pattern per AND/OR operand of the query's positive part (querytree
 * drops the negated ones) for where its text starts: a word's stem, or a phrase's stems with
 * as many words between them as the phrase's distance says. A stem is a prefix of its words
 * except for a final i standing for y (privaci/privacy), so that i is dropped; lexemes that
 * are not plain words (a-b, a/b: their parts are in the phrase too) are left out. At most 8.
 */
export const SEARCH_WORDS_SQL = String.raw`array(
    select distinct '\m' || string_agg(case when k = 1 then '' when op is null or op = '-' then '\w*\W+'
                                            else '\w*\W+(?:\w+\W+){' || least(greatest(op::int - 1, 0), 100) || '}' end || regexp_replace(lex, 'i$', ''), '' order by k)
    from (select g.i, t.m[1] as op, t.m[2] as lex, row_number() over (partition by g.i order by t.j) as k
          from regexp_split_to_table(querytree(query), ' [&|] ') with ordinality g(operand, i),
               regexp_matches(g.operand, '(?:<(-|\d+)> )?''((?:[^'']|'''')+)''', 'g') with ordinality t(m, j)
          where t.m[2] ~ '^\w+$') tokens
    group by i limit 8) as words`;

/**
 * What follows the `hits` CTE (the page: documentColumns, hl_description, hl_content, rank)
 * in the search statement: SNIPPET_SELECT's select list (a carried column may follow it), then
 * SNIPPET_FROM; bench/lib/sql.ts (B2) uses the same text, SNIPPET_SQL. The body is detoasted
 * once per hit; each stem's first match opens a window, overlapping windows merge, separate
 * ones are joined by " … ", and a window's cut-off first and last words are dropped, up to
 * a space. The body is walked as little as possible: length(), substr() far in and the
 * regular expression functions each cost tens of µs on 3 KB of UTF-8 (they count or widen
 * characters from the start), more than a headline of the window itself. The
 * title and the description take part only when a word pattern finds them. When the
 * windows give no highlight (a phrase whose words do not meet near their first occurrences,
 * a stem that is not a prefix of the word in the text), the snippet is computed over the
 * whole text as before, so a snippet has a highlight whenever the full headline would.
 */
const [SNIPPET_SELECT, SNIPPET_FROM] = (() => {
  const [b, l] = [SNIPPET_BEFORE, SNIPPET_WINDOW];
  const headline = (title: string, description: string, body: string) =>
    `ts_headline('english', replace(replace(concat_ws(' ', ${title}, ${description}, ${body}), ${literal(MARK_START)}, ''), ${literal(MARK_END)}, ''), q.query, ${literal(HEADLINE_OPTIONS)})`;
  const ifFound = (text: string) => `case when ${text} ~* any(q.words) then ${text} end`;
  return [
    String.raw`windowed as materialized (
  select hits.*, ${headline(ifFound('hits.title'), ifFound('hits.hl_description'), `coalesce(w.text, left(b.body, ${l}))`)} as snippet
  from hits cross join q
  cross join lateral (select coalesce(hits.hl_content, '') || '' as body offset 0) b
  cross join lateral (
    select string_agg(case when next < a + ${l} or length(raw) < ${l} then piece else left(piece, length(piece) - strpos(reverse(piece), ' ')) end,
                      case when a < prev + ${l} then '' else ' … ' end order by a) as text
    from (
      select a, prev, next, raw,
             case when prev is null or a >= prev + ${l} then case when a > 1 then substr(raw, strpos(raw, ' ') + 1) else raw end
                  else right(raw, a - prev) end as piece
      from (
        select a, lag(a) over (order by a) as prev, lead(a) over (order by a) as next, substr(b.body, a, ${l}) as raw
        from (select distinct greatest(m - ${b}, 1) as a
              from (select regexp_instr(b.body, word, 1, 1, 0, 'i') as m from unnest(q.words) word offset 0) found where m > 0) starts
      ) windows
    ) pieces
  ) w
)
select ${Object.keys(documentColumns).map((c) => `windowed.${c}`).join(', ')}, windowed.rank,
       case when strpos(windowed.snippet, ${literal(MARK_START)}) = 0 and cardinality(q.words) > 0
            then ${headline('windowed.title', 'windowed.hl_description', 'windowed.hl_content')} else windowed.snippet end as snippet`,
    'from windowed, q\norder by windowed.rank desc, windowed.id',
  ];
})();
export const SNIPPET_SQL = `${SNIPPET_SELECT}\n${SNIPPET_FROM}`;

/** What a search statement's text depends on: the actor's scope, the optional filters, the carried session check. */
export interface SearchShape {
  admin: boolean;
  ownerFilter: boolean;
  status: boolean;
  /** The session check's column (context/session.ts), carried as the rows' last column. */
  carried?: SQL;
}

/** A search's values, by the statement's placeholder names. */
export type SearchValues = {
  q: string;
  limit: number;
  owner: string;
  owner_id?: string;
  status?: string;
};

/**
 * The search statement with placeholders for its values, one text per shape.
 * websearch_to_tsquery parses the user's text (it never raises, whatever the input), the
 * GIN index (owner first) finds matches, weights rank title (A) over description (B) over body
 * (C), and ts_headline runs only on the page of hits, not on every match, over windows of the text.
 */
export function searchStatement(shape: SearchShape): SQL {
  const scope = and(
    ownRows(shape.admin, documents.owner_id, sql.placeholder('owner')),
    shape.ownerFilter ? eq(documents.owner_id, sql.placeholder('owner_id')) : undefined,
    shape.status ? eq(documents.status, sql.placeholder('status')) : undefined,
  );
  return sql`
    with q as (select query, ${sql.raw(SEARCH_WORDS_SQL)} from websearch_to_tsquery('english', ${sql.placeholder('q')}) query),
    hits as (
      select ${sql.join(Object.values(documentColumns).map((c) => sql`${c}`), sql`, `)}, ${documents.description} as hl_description,
             ${documents.content_text} as hl_content,
             ts_rank('{0.1, 0.2, 0.4, 1.0}', ${documents.search}, q.query) as rank
      from ${documents}, q
      where ${documents.search} @@ q.query ${scope ? sql`and ${scope}` : sql``}
      order by rank desc, ${documents.id}
      limit ${sql.placeholder('limit')}
    ),
    ${sql.raw(SNIPPET_SELECT)}${shape.carried ? sql`, ${shape.carried}` : sql``}
    ${sql.raw(SNIPPET_FROM)}`;
}

// Rendered once per handle and shape (src/db/prepared.ts): drizzle rendering the statement's
// SQL objects on every search cost about a tenth of the API's CPU per search.
const dialect = new PgDialect();
const searchStatements = statementCache((db, _shape, shape: SearchShape) => {
  const statement = searchStatement(shape);
  const run = rawRows(db, { toSQL: () => dialect.sqlToQuery(statement) }, {});
  if (!run) throw new Error('searchDocuments runs on a pool handle, not in a transaction');
  return run;
});

export async function searchDocuments(db: Db, shape: SearchShape, values: SearchValues): Promise<Record<string, unknown>[]> {
  const key = `${shape.admin ? 'any' : 'own'} ${shape.ownerFilter ? 'owner' : '-'} ${shape.status ? 'status' : '-'} ${shape.carried ? 'carry' : 'plain'}`;
  return searchStatements(db, key, shape)(values);
}

/** A search statement's row (the carried column already taken off) typed, rewritten in place. */
export function toSearchRow(r: Record<string, unknown>): SearchRow {
  r.rank = Number(r.rank);
  r.snippet = String(r.snippet);
  return r as unknown as SearchRow;
}
