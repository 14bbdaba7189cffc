import { createHash } from 'node:crypto';
import { sql, type SQL } from 'drizzle-orm';
import { PgColumn } from 'drizzle-orm/pg-core';
import { CARRIED_SESSION, type AuditFields } from '../../context/index.js';
import { audit_logs } from '../../db/schema/index.js';
import { SECRET_KEY } from './record.js';

// A created row's audit row, built by PostgreSQL in the statement that inserts the row: a
// data-modifying CTE is atomic by itself, so a create needs neither a transaction (BEGIN and
// COMMIT round trips) nor a second INSERT, and the audit row is never built in JavaScript.
// The SQL below writes exactly what recordAuditMany(created(row)) writes: the same view of the
// row (auditViewOf), each kept field as { before: null, after }, secret-looking keys dropped.

type Row = Record<string, unknown>;

/** What the trail keeps of a row: every field but `omit`; `digest` text fields as { bytes, sha256 } (a 1 MB body is not copied). */
export interface AuditViewSpec {
  omit: readonly string[];
  digest?: readonly string[];
}

export const DEFAULT_AUDIT_VIEW: AuditViewSpec = { omit: ['id', 'created_at', 'updated_at'] };

const digestOf = (text: string) => ({ bytes: Buffer.byteLength(text), sha256: createHash('sha256').update(text).digest('hex') });

/** The view in JavaScript (updates and deletes diff it; the fallback path records it). */
export function auditViewOf(spec: AuditViewSpec): (row: Row) => Row {
  const omit = new Set(spec.omit);
  const digest = new Set(spec.digest ?? []);
  return (row) => {
    const view: Row = {};
    for (const [k, v] of Object.entries(row)) {
      if (omit.has(k)) continue;
      view[k] = digest.has(k) ? (v == null ? null : digestOf(v as string)) : v;
    }
    return view;
  };
}

// How each column type reaches the trail today: the value drizzle maps the row to, through
// JSON.stringify. Types missing here have no SQL form (the caller keeps the JavaScript path).
const AS_JSON: Record<string, (ref: SQL) => SQL> = {
  PgUUID: (ref) => sql`to_jsonb(${ref})`,
  PgText: (ref) => sql`to_jsonb(${ref})`,
  PgVarchar: (ref) => sql`to_jsonb(${ref})`,
  PgInteger: (ref) => sql`to_jsonb(${ref})`,
  PgBoolean: (ref) => sql`to_jsonb(${ref})`,
  PgJsonb: (ref) => sql`to_jsonb(${ref})`,
  PgJson: (ref) => sql`to_jsonb(${ref})`,
  // mode 'number': Number(text), a double.
  PgBigInt53: (ref) => sql`to_jsonb(${ref}::float8)`,
  // Strings in the row: numeric's exact text, timestamps' text form (drizzle passes it through).
  PgNumeric: (ref) => sql`to_jsonb(${ref}::text)`,
  PgTimestampString: (ref) => sql`to_jsonb(${ref}::text)`,
};
const JSON_TYPES = new Set(['PgJsonb', 'PgJson']);

function asJson(column: PgColumn, ref: SQL): SQL | undefined {
  if (column.columnType === 'PgArray') {
    const base = (column as unknown as { baseColumn: PgColumn }).baseColumn;
    return base.columnType === 'PgText' ? sql`to_jsonb(${ref})` : undefined;
  }
  return AS_JSON[column.columnType]?.(ref);
}

// scrub() drops secret-looking keys at any depth; inside a json value PostgreSQL can find them
// but not drop them, so such a row makes the statement fail (nothing written) and the caller
// takes the JavaScript path. The same pattern as SECRET_KEY, case-insensitive.
const SECRET_PATH = `$.** ? (@.type() == "object").keyvalue() ? (@.key like_regex "${SECRET_KEY.source}" flag "i")`;
const SCRUB_MARKER = 'offbase_audit_needs_scrub';

/** The statement failed on purpose: a json value holds a secret-looking key; redo the write with the audit built in JavaScript. */
export class NeedsScrub extends Error {
  constructor() {
    super('audit row needs scrubbing in JavaScript');
  }
}

/** Maps the statement's deliberate failure to NeedsScrub; any other error is returned as is. */
export function scrubFailure(error: unknown): unknown {
  // PostgreSQL's own error (invalid text for an integer), not drizzle's wrapper, whose message lists the parameters.
  for (let e = error as { code?: unknown; message?: unknown; cause?: unknown } | undefined, i = 0; e && i < 5; e = e.cause as typeof e, i++) {
    if (e.code === '22P02' && typeof e.message === 'string' && e.message.includes(SCRUB_MARKER)) return new NeedsScrub();
  }
  return error;
}

// The statement's constants (field names, the path, the marker) are literals in its text, not
// parameters: a generic plan then holds the jsonpath parsed once instead of parsing it per
// execution, and a create binds its values only. Only what this module writes goes through
// here (declared field names and fixed strings); a backslash would read differently with
// standard_conforming_strings off, so it is refused where the statement is built.
function literal(text: string): SQL {
  if (text.includes('\\')) throw new Error(`audit in-statement: no backslash in a literal: ${text}`);
  return sql.raw(`'${text.replaceAll("'", "''")}'`);
}

// jsonb_build_object takes at most 100 arguments: wide rows are built in chunks.
const CHUNK = 40;

/**
 * `{ field: { before: null, after } }` of the row `ref(key)` names, guarded against keys to
 * scrub; undefined when a field has no SQL form.
 */
function createdChangesSql(fields: Record<string, PgColumn | SQL>, spec: AuditViewSpec, ref: (key: string) => SQL, id: SQL): SQL | undefined {
  const omit = new Set(spec.omit);
  const digest = new Set(spec.digest ?? []);
  const pairs: SQL[] = [];
  const guards: SQL[] = [];
  for (const [key, field] of Object.entries(fields)) {
    // A secret-looking field name never reaches the trail (scrub drops it at the top level too).
    if (omit.has(key) || SECRET_KEY.test(key)) continue;
    if (!(field instanceof PgColumn)) return undefined;
    let value: SQL | undefined;
    if (digest.has(key)) {
      if (field.columnType !== 'PgText') return undefined;
      const utf8 = sql`convert_to(${ref(key)}, 'UTF8')`;
      value = sql`case when ${ref(key)} is null then null else jsonb_build_object('bytes', octet_length(${utf8}), 'sha256', encode(sha256(${utf8}), 'hex')) end`;
    } else {
      value = asJson(field, ref(key));
      if (!value) return undefined;
      if (JSON_TYPES.has(field.columnType)) guards.push(sql`jsonb_path_exists(to_jsonb(${ref(key)}), ${literal(SECRET_PATH)}::jsonpath)`);
    }
    pairs.push(sql`${literal(key)}::text, jsonb_build_object('before', null, 'after', ${value})`);
  }
  const chunks: SQL[] = [];
  for (let i = 0; i < pairs.length; i += CHUNK) chunks.push(sql`jsonb_build_object(${sql.join(pairs.slice(i, i + CHUNK), sql`, `)})`);
  const changes = chunks.length ? sql.join(chunks, sql` || `) : sql`'{}'::jsonb`;
  if (!guards.length) return changes;
  // Not a constant, so only evaluated (and failing) for a row that needs it.
  return sql`case when ${sql.join(guards, sql` or `)} then to_jsonb((${literal(SCRUB_MARKER + ' ')} || ${id})::int) else ${changes} end`;
}

/** The audit row's own values (or placeholders for them). */
export interface InStatementAudit {
  actorId: unknown;
  /** `<entity>.<verb>`. */
  action: unknown;
  entityType: unknown;
  requestId: unknown;
  ip: unknown;
  userAgent: unknown;
}

/** The audit values of a request (user agent cut to 512 characters, as recordAudit does). */
export const auditValues = (actorId: string, action: string, entityType: string, f: AuditFields | null): InStatementAudit => ({
  actorId,
  action,
  entityType,
  requestId: f?.requestId ?? null,
  ip: f?.ip ?? null,
  userAgent: f?.userAgent?.slice(0, 512) ?? null,
});

/**
 * For rows shaped as `fields` name them: a function turning `insert` (an INSERT without
 * RETURNING) into one statement that also writes one audit row per inserted row. The
 * statement returns the inserted rows (a row that hit `on conflict do nothing` has neither).
 * Undefined when the view has no SQL form (write the audit in JavaScript then). Build it once
 * per row shape: only the INSERT and the audit values change per call.
 *
 * With `carried` (a session check's column, context/session.ts) the statement also evaluates it
 * once, as the CTE CARRIED_STATE, for `insert` to select its row from (under the check's write
 * gate), and always returns one row: the inserted row's columns (all NULL when nothing was
 * inserted) and the check's value as the column CARRIED_STATE.
 */
export function auditedInsert(fields: Record<string, PgColumn | SQL>, spec: AuditViewSpec): ((insert: SQL, audit: InStatementAudit, carried?: SQL) => SQL) | undefined {
  if (!Object.hasOwn(fields, 'id')) return undefined;
  const changes = createdChangesSql(fields, spec, (key) => sql`d.${sql.identifier(key)}`, sql`d."id"::text`);
  if (!changes) return undefined;
  const returning = sql.join(
    Object.entries(fields).map(([key, field]) => sql`${field} as ${sql.identifier(key)}`),
    sql`, `,
  );
  return (insert, a, carried) => sql`with ${carried ? sql`${sql.identifier(CARRIED_STATE)} as materialized (select ${carried} as state), ` : sql``}d as (${insert} returning ${returning}),
    a as (insert into ${audit_logs} (actor_id, action, entity_type, entity_id, changes, request_id, ip, user_agent)
      select ${a.actorId}::uuid, ${a.action}::text, ${a.entityType}::text, d."id"::text, ${changes}, ${a.requestId}::text, ${a.ip}::text, ${a.userAgent}::text from d)
    ${carried ? sql`select d.*, s.state as ${sql.identifier(CARRIED_STATE)} from ${sql.identifier(CARRIED_STATE)} s left join d on true` : sql`select * from d`}`;
}

/**
 * A carrying statement's CTE with the session check's value (one row, column `state`,
 * evaluated once), which its INSERT selects the row from (`select ... from <it> s where ...`);
 * and the name of that value's column in the statement's one row.
 */
export const CARRIED_STATE = CARRIED_SESSION;

/** A raw row of auditedInsert's statement as drizzle's RETURNING would map it (bigint mode number, ...). */
export function mapReturned(fields: Record<string, PgColumn | SQL>, raw: Row): Row {
  const row: Row = {};
  for (const [key, field] of Object.entries(fields)) {
    const value = raw[key];
    row[key] = value == null || !(field instanceof PgColumn) ? (value ?? null) : field.mapFromDriverValue(value);
  }
  return row;
}
