import { sql } from 'drizzle-orm';
import { bigint, check, customType, index, integer, jsonb, pgTable, text, uniqueIndex, uuid } from 'drizzle-orm/pg-core';
import { timestamps } from './columns.js';
import { users } from './users.js';

export const DOCUMENT_STATUSES = ['uploaded', 'processing', 'ready', 'failed', 'archived'] as const;
export type DocumentStatus = (typeof DOCUMENT_STATUSES)[number];

const tsvector = customType<{ data: string }>({ dataType: () => 'tsvector' });

export const documents = pgTable(
  'documents',
  {
    id: uuid().primaryKey().defaultRandom(),
    owner_id: uuid()
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    title: text().notNull(),
    description: text(),
    status: text().$type<DocumentStatus>().notNull().default('uploaded'),
    s3_bucket: text().notNull(),
    s3_key: text().notNull(),
    content_type: text(),
    size_bytes: bigint({ mode: 'number' }),
    sha256: text(),
    content_text: text(),
    tags: text().array().notNull().default(sql`'{}'::text[]`),
    metadata: jsonb().$type<Record<string, unknown>>().notNull().default({}),
    // Kept by the analyses_count trigger; never written by the application.
    analysis_count: integer().notNull().default(0),
    ...timestamps,
    search: tsvector().generatedAlwaysAs(
      sql`setweight(to_tsvector('english', coalesce(title, '')), 'A') || setweight(to_tsvector('english', coalesce(description, '')), 'B') || setweight(to_tsvector('english', coalesce(content_text, '')), 'C')`,
    ),
  },
  (t) => [
    uniqueIndex('documents_owner_s3_key').on(t.owner_id, t.s3_bucket, t.s3_key),
    // Keyset pagination: every list order ends in id so the cursor is total.
    index('documents_owner_created_idx').on(t.owner_id, t.created_at, t.id),
    index('documents_owner_updated_idx').on(t.owner_id, t.updated_at, t.id),
    index('documents_owner_title_idx').on(t.owner_id, t.title, t.id),
    index('documents_created_idx').on(t.created_at, t.id),
    index('documents_tags_idx').using('gin', t.tags),
    // Led by the owner (btree_gin, drizzle/0003): an owner's search reads that owner's postings
    // only, not every owner's matches of a common word. A multicolumn GIN index serves a
    // condition on any subset of its columns equally well, so an admin's search (no owner)
    // uses it too, and it replaces the search-only index rather than adding a ninth.
    index('documents_owner_search_idx').using('gin', t.owner_id, t.search),
    check('documents_title_check', sql`char_length(${t.title}) between 1 and 500`),
    check('documents_status_check', sql`${t.status} in ('uploaded', 'processing', 'ready', 'failed', 'archived')`),
    check('documents_size_check', sql`${t.size_bytes} is null or ${t.size_bytes} >= 0`),
    check('documents_content_text_check', sql`${t.content_text} is null or octet_length(${t.content_text}) <= 1048576`),
  ],
);

export type Document = typeof documents.$inferSelect;
