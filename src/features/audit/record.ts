import { sql } from 'drizzle-orm';
import type { AuditFields } from '../../context/index.js';
import type { DbOrTx } from '../../db/client.js';
import { audit_logs } from '../../db/schema/index.js';

export interface AuditEntry {
  /** Who did it; null for anonymous events such as a failed login for an unknown email. */
  actor_id: string | null;
  /** `<entity>.<verb>`, e.g. document.create, auth.login_failed. */
  action: string;
  entity_type: string;
  entity_id?: string | number | null;
  /** Fields that changed, `{ field: { before, after } }`, or event context. Never secrets. */
  changes?: Record<string, unknown> | null;
}

/** Keys dropped from every audit row, at any depth. */
export const SECRET_KEY = /password|token|secret|hash/i;

/** Drops anything that looks like a credential, however deep, before it reaches the trail. */
function scrub(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(scrub);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).filter(([k]) => !SECRET_KEY.test(k)).map(([k, v]) => [k, scrub(v)]));
  }
  return value;
}

/**
 * Appends an audit row with the request's audit fields (null outside a request). Pass the
 * transaction of the write it describes, so a failed write leaves no audit row and a written
 * row always has one.
 */
export async function recordAudit(db: DbOrTx, audit: AuditFields | null, entry: AuditEntry): Promise<void> {
  await recordAuditMany(db, audit, [entry]);
}

/**
 * Several audit rows in one INSERT (a batch write records one row per entity). The rows
 * travel as one jsonb parameter: the query builder assembling thousands of parameters
 * costs far more than the insert itself.
 */
export async function recordAuditMany(db: DbOrTx, audit: AuditFields | null, entries: AuditEntry[]): Promise<void> {
  if (!entries.length) return;
  const rows = entries.map((entry) => ({
    actor_id: entry.actor_id,
    action: entry.action,
    entity_type: entry.entity_type,
    entity_id: entry.entity_id == null ? null : String(entry.entity_id),
    changes: entry.changes ? scrub(entry.changes) : null,
  }));
  await db.execute(sql`
    insert into ${audit_logs} (actor_id, action, entity_type, entity_id, changes, request_id, ip, user_agent)
    select x.actor_id, x.action, x.entity_type, x.entity_id, x.changes, ${audit?.requestId ?? null}, ${audit?.ip ?? null}, ${audit?.userAgent?.slice(0, 512) ?? null}
    from jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) as x(actor_id uuid, action text, entity_type text, entity_id text, changes jsonb)`);
}

/** `{ field: { before, after } }` for the fields whose values differ. */
export function diff<T extends Record<string, unknown>>(before: T, after: Partial<T>): Record<string, { before: unknown; after: unknown }> {
  // Keyed by the patch's field names: no prototype, and only own values of `before` are read.
  const changes: Record<string, { before: unknown; after: unknown }> = Object.create(null);
  for (const [key, value] of Object.entries(after)) {
    const old = Object.hasOwn(before, key) ? before[key] : undefined;
    if (JSON.stringify(old) !== JSON.stringify(value)) changes[key] = { before: old, after: value };
  }
  return changes;
}
