import { sql } from 'drizzle-orm';
import { check, index, integer, jsonb, numeric, pgTable, text, uuid } from 'drizzle-orm/pg-core';
import { timestamps } from './columns.js';
import { documents } from './documents.js';
import { users } from './users.js';

export const ANALYSIS_KINDS = ['summary', 'risks', 'action_items', 'classification', 'custom'] as const;
export const ANALYSIS_STATUSES = ['pending', 'running', 'succeeded', 'failed'] as const;
export type AnalysisKind = (typeof ANALYSIS_KINDS)[number];
export type AnalysisStatus = (typeof ANALYSIS_STATUSES)[number];

export const analyses = pgTable(
  'analyses',
  {
    id: uuid().primaryKey().defaultRandom(),
    document_id: uuid()
      .notNull()
      .references(() => documents.id, { onDelete: 'cascade' }),
    owner_id: uuid()
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    kind: text().$type<AnalysisKind>().notNull(),
    model: text(),
    status: text().$type<AnalysisStatus>().notNull().default('pending'),
    result: jsonb(),
    error: text(),
    tokens_used: integer(),
    // numeric stays exact: drizzle returns it as a string and it is serialized as one.
    cost_usd: numeric({ precision: 14, scale: 6 }),
    duration_ms: integer(),
    ...timestamps,
  },
  (t) => [
    index('analyses_document_created_idx').on(t.document_id, t.created_at, t.id),
    index('analyses_owner_created_idx').on(t.owner_id, t.created_at, t.id),
    check('analyses_kind_check', sql`${t.kind} in ('summary', 'risks', 'action_items', 'classification', 'custom')`),
    check('analyses_status_check', sql`${t.status} in ('pending', 'running', 'succeeded', 'failed')`),
    check('analyses_tokens_check', sql`${t.tokens_used} is null or ${t.tokens_used} >= 0`),
    check('analyses_cost_check', sql`${t.cost_usd} is null or ${t.cost_usd} >= 0`),
    check('analyses_duration_check', sql`${t.duration_ms} is null or ${t.duration_ms} >= 0`),
  ],
);

export type Analysis = typeof analyses.$inferSelect;
