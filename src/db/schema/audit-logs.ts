import { bigint, index, jsonb, pgTable, text, uuid } from 'drizzle-orm/pg-core';
import { tstz } from './columns.js';

// Append-only: a trigger (drizzle/0001_*) refuses UPDATE, DELETE and TRUNCATE.
// actor_id has no foreign key on purpose: the trail must outlive the users it names.
export const audit_logs = pgTable(
  'audit_logs',
  {
    id: bigint({ mode: 'number' }).primaryKey().generatedByDefaultAsIdentity(),
    actor_id: uuid(),
    action: text().notNull(),
    entity_type: text().notNull(),
    entity_id: text(),
    request_id: text(),
    ip: text(),
    user_agent: text(),
    changes: jsonb().$type<Record<string, unknown>>(),
    created_at: tstz().notNull().defaultNow(),
  },
  (t) => [
    index('audit_logs_actor_idx').on(t.actor_id, t.created_at, t.id),
    index('audit_logs_entity_idx').on(t.entity_type, t.entity_id),
    index('audit_logs_created_idx').on(t.created_at, t.id),
  ],
);

export type AuditLog = typeof audit_logs.$inferSelect;
