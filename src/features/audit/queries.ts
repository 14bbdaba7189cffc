import { and } from 'drizzle-orm';
import type { Actor } from '../../context/index.js';
import type { DbOrTx } from '../../db/client.js';
import { audit_logs, type AuditLog } from '../../db/schema/index.js';
import { compileFilters, compileOrder, decodeCursor, defineTable, keysetCondition, literalLimit, ownerScope, type Filter, type SortTerm } from '../../query/index.js';

export const auditTable = defineTable({
  name: 'audit_logs',
  key: 'id',
  columns: {
    id: { column: audit_logs.id, type: 'bigint' },
    actor_id: { column: audit_logs.actor_id, type: 'uuid', nullable: true },
    action: { column: audit_logs.action, type: 'text' },
    entity_type: { column: audit_logs.entity_type, type: 'text' },
    entity_id: { column: audit_logs.entity_id, type: 'text', nullable: true },
    request_id: { column: audit_logs.request_id, type: 'text', nullable: true },
    created_at: { column: audit_logs.created_at, type: 'timestamptz', sortable: true },
  },
});

/** Newest first: (created_at, id) descending, served by the (actor_id, created_at, id) index. */
export const NEWEST_FIRST: SortTerm[] = [{ column: 'created_at', direction: 'desc' }];

/**
 * A user sees the trail of their own actions; an admin sees everyone's. An actor_id filter
 * from a non-admin can only narrow their own rows (another id yields nothing).
 */
export async function listAuditLogs(db: DbOrTx, actor: Actor, actorId: string | undefined, filters: Filter[], limit: number, cursor?: string): Promise<AuditLog[]> {
  const after = cursor ? keysetCondition(auditTable, NEWEST_FIRST, decodeCursor(auditTable, NEWEST_FIRST, cursor)) : undefined;
  return db
    .select()
    .from(audit_logs)
    .where(and(ownerScope(actor, audit_logs.actor_id, actorId), compileFilters(auditTable, filters), after))
    .orderBy(...compileOrder(auditTable, NEWEST_FIRST))
    .limit(literalLimit(limit + 1));
}
