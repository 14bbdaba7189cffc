// The SQL the data API runs for S1 (list) and S2 (get), run bare by the floors: B1 through
// postgres.js in a bare Fastify route, B2 through pgbench. Keep it in step with
// src/features/documents/queries.ts: the floor is only fair if the statements match.

const LIST_COLUMNS = 'id, owner_id, title, description, status, s3_bucket, s3_key, content_type, size_bytes, sha256, tags, metadata, analysis_count, created_at, updated_at';

/** $1 owner, $2 limit + 1 (the extra row tells whether there is a next page). */
export const LIST_SQL = `select ${LIST_COLUMNS} from documents where owner_id = $1 order by created_at desc nulls first, id desc nulls first limit $2`;

/** $1 id, $2 owner. The etag is the API's: md5(id || ':' || xmin). */
export const GET_SQL = `select ${LIST_COLUMNS}, content_text, md5(id::text || ':' || xmin::text) as etag from documents where id = $1 and owner_id = $2 limit 1`;

/** The same statements for pgbench: ids derived from random user and document numbers. */
export function pgbenchScripts(users: number, docsPerUser: number): { list: string; get: string } {
  const owner = `md5('bench-user-' || :u)::uuid`;
  return {
    list: `\\set u random(1, ${users})\n${LIST_SQL.replace('$1', owner).replace('$2', '21')};\n`,
    get: `\\set u random(1, ${users})\n\\set d random(0, ${docsPerUser - 1})\n${GET_SQL.replace('$1', `md5('bench-doc-' || :u || '-' || :d)::uuid`).replace('$2', owner)};\n`,
  };
}
