import { integer, pgTable, text } from 'drizzle-orm/pg-core';
import { tstz } from './columns.js';

// Fixed-window counters shared by every API task behind the load balancer.
export const rate_limits = pgTable('rate_limits', {
  key: text().primaryKey(),
  hits: integer().notNull(),
  reset_at: tstz().notNull(),
});
