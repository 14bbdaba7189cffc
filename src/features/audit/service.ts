import { requireActor, type RequestContext } from '../../context/index.js';
import type { AuditLog } from '../../db/schema/index.js';
import { apiTimestamp } from '../../lib/timestamp.js';
import { keysetPage, type Filter, type KeysetPage } from '../../query/index.js';
import { auditTable, listAuditLogs, NEWEST_FIRST } from './queries.js';
import type { AuditQuery } from './schemas.js';

const toAuditLog = (row: AuditLog) => ({ ...row, created_at: apiTimestamp(row.created_at) });

/** A page of the audit trail the caller may see (queries.listAuditLogs holds the rule), newest first. */
export async function listAudit(ctx: RequestContext, query: AuditQuery): Promise<KeysetPage<ReturnType<typeof toAuditLog>>> {
  const { limit = 50, cursor, since, until, actor_id, ...exact } = query;
  const filters: Filter[] = [];
  for (const [column, value] of Object.entries(exact)) if (value !== undefined) filters.push({ column, op: 'eq', value });
  if (since) filters.push({ column: 'created_at', op: 'gte', value: since });
  if (until) filters.push({ column: 'created_at', op: 'lt', value: until });
  const rows = await listAuditLogs(ctx.readDb, requireActor(ctx), actor_id, filters, limit, cursor);
  return keysetPage(auditTable, NEWEST_FIRST, rows, limit, toAuditLog);
}
