import { PgDialect } from 'drizzle-orm/pg-core';
import { searchStatement } from '../../src/features/documents/queries.js';

// The SQL the data API runs, run bare by the floors: B1/B4/B5 through postgres.js in a bare
// Fastify route, B2 through pgbench. Keep it in step with src/features/documents/queries.ts
// and src/features/audit/record.ts: a floor is only fair if the statements match. The texts
// below are what drizzle renders for those functions (checked with PgDialect.sqlToQuery);
// the search statement is rendered from queries.ts itself.

const LIST_COLUMNS = 'id, owner_id, title, description, status, s3_bucket, s3_key, content_type, size_bytes, sha256, tags, metadata, analysis_count, created_at, updated_at';
const ETAG = `md5(id::text || ':' || xmin::text) as etag`;

/** $1 owner; `rows` is limit + 1 (the extra row tells whether there is a next page), a literal in the text as the API sends it. */
export const listSql = (rows: number) => `select ${LIST_COLUMNS} from documents where owner_id = $1 order by created_at desc nulls first, id desc nulls first limit ${Math.trunc(rows)}`;

/** $1 id, $2 owner. The etag is the API's: md5(id || ':' || xmin). */
export const GET_SQL = `select ${LIST_COLUMNS}, content_text, ${ETAG} from documents where id = $1 and owner_id = $2 limit 1`;

/** $1 the user's text, $2 owner, $3 limit: searchDocuments for a non-admin, rendered from queries.ts's own statement. */
export const SEARCH_SQL = (() => {
  const { sql, params } = new PgDialect().sqlToQuery(searchStatement({ admin: false, ownerFilter: false, status: false }));
  const names = params.map((p) => (p as { name?: string }).name).join();
  if (names !== 'q,owner,limit') throw new Error(`the search statement's placeholders changed (${names}): update SEARCH_SQL's users`);
  return sql;
})();

const RETURNING_FULL = `${LIST_COLUMNS}, content_text, ${ETAG}`;

/** insertDocument: the columns S4's body carries, $1 owner ... $8 metadata. */
export const INSERT_SQL = `insert into documents (owner_id, title, description, s3_bucket, s3_key, content_type, size_bytes, tags, metadata)
values ($1, $2, $3, $4, $5, $6, $7, $8, $9) on conflict do nothing returning ${RETURNING_FULL}`;

/** insertDocuments: $1 owner, $2 the batch as one jsonb array. */
export const BATCH_INSERT_SQL = `insert into documents (owner_id, title, description, status, s3_bucket, s3_key, content_type, size_bytes, sha256, content_text, tags, metadata)
select $1::uuid, x.title, x.description, coalesce(x.status, 'uploaded'), x.s3_bucket, x.s3_key, x.content_type,
       x.size_bytes, x.sha256, x.content_text, coalesce(x.tags, '{}'), coalesce(x.metadata, '{}')
from jsonb_to_recordset($2::jsonb) as x(title text, description text, status text, s3_bucket text, s3_key text, content_type text, size_bytes bigint, sha256 text, content_text text, tags text[], metadata jsonb)
on conflict do nothing
returning ${RETURNING_FULL}`;

// Since the API writes a created document's audit row in the INSERT's own statement (a
// data-modifying CTE, src/features/audit/in-statement.ts: the audit row built by PostgreSQL
// from the inserted row), the floors do the same: B4 is one statement, no transaction; B5 one
// statement in a transaction. The audit view is the documents' (id, etag, timestamps and
// analysis_count left out, content_text as size and hash); a metadata key that looks secret
// fails the statement (the API then scrubs in JavaScript; the bench's metadata has none).
const AUDITED = ['owner_id', 'title', 'description', 'status', 's3_bucket', 's3_key', 'content_type', 'size_bytes', 'sha256', 'content_text', 'tags', 'metadata'];
const auditValue = (c: string) =>
  c === 'content_text'
    ? `case when d.content_text is null then null else jsonb_build_object('bytes', octet_length(convert_to(d.content_text, 'UTF8')), 'sha256', encode(sha256(convert_to(d.content_text, 'UTF8')), 'hex')) end`
    : c === 'size_bytes'
      ? 'to_jsonb(d.size_bytes::float8)'
      : `to_jsonb(d.${c})`;
const CHANGES = `case when jsonb_path_exists(to_jsonb(d.metadata), '$.** ? (@.type() == "object").keyvalue() ? (@.key like_regex "password|token|secret|hash" flag "i")'::jsonpath)
  then to_jsonb(('offbase_audit_needs_scrub ' || d.id::text)::int)
  else jsonb_build_object(${AUDITED.map((c) => `'${c}', jsonb_build_object('before', null, 'after', ${auditValue(c)})`).join(', ')}) end`;
/** `insert` (no RETURNING) and its audit rows in one statement; `$a`, `$a+1`, `$a+2`: request id, ip, user agent. */
const withAudit = (insert: string, owner: string, action: string, a: number) => `with d as (${insert} returning ${RETURNING_FULL}),
a as (insert into audit_logs (actor_id, action, entity_type, entity_id, changes, request_id, ip, user_agent)
  select ${owner}, '${action}', 'document', d.id::text, ${CHANGES}, $${a}, $${a + 1}, $${a + 2} from d)
select * from d`;

/** S4's create: INSERT_SQL's row and its audit row; $1 owner ... $9 metadata, $10 request id, $11 ip, $12 user agent. */
export const CREATE_AUDITED_SQL = withAudit(INSERT_SQL.slice(0, INSERT_SQL.indexOf(' returning ')), '$1::uuid', 'document.create', 10);

/** S5's batch: BATCH_INSERT_SQL's rows and their audit rows; $1 owner, $2 the batch, $3 request id, $4 ip, $5 user agent. */
export const BATCH_AUDITED_SQL = withAudit(BATCH_INSERT_SQL.slice(0, BATCH_INSERT_SQL.indexOf('\nreturning ')), '$1::uuid', 'document.batch_create', 3);

const literal = (s: string) => `'${s.replaceAll("'", "''")}'`;

/** The same statements for pgbench: ids derived from random user and document numbers. */
export function pgbenchScripts(users: number, docsPerUser: number, terms: { common: string[]; rare: string[] }): { list: string; get: string; searchCommon: string; searchRare: string } {
  const owner = `md5('bench-user-' || :u)::uuid`;
  // pgbench variables are numbers: the term is picked from an array literal by index.
  const search = (list: string[]) =>
    `\\set u random(1, ${users})\n\\set t random(1, ${list.length})\n${SEARCH_SQL.replace('$1', `(array[${list.map(literal).join(', ')}])[:t]`)
      .replace('$2', owner)
      .replace('$3', '20')};\n`;
  return {
    list: `\\set u random(1, ${users})\n${listSql(21).replace('$1', owner)};\n`,
    get: `\\set u random(1, ${users})\n\\set d random(0, ${docsPerUser - 1})\n${GET_SQL.replace('$1', `md5('bench-doc-' || :u || '-' || :d)::uuid`).replace('$2', owner)};\n`,
    searchCommon: search(terms.common),
    searchRare: search(terms.rare),
  };
}
