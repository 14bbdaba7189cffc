import { timestamp } from 'drizzle-orm/pg-core';

// Every timestamp is timestamptz and travels as an ISO string: JSON responses and the
// importer both want the text form, and string mode avoids Date round-trips on hot paths.
export const tstz = () => timestamp({ withTimezone: true, mode: 'string' });

export const timestamps = {
  created_at: tstz().notNull().defaultNow(),
  // Kept by the set_updated_at trigger (see drizzle/0001_*), so writes from psql,
  // the importer or any other tool move it too.
  updated_at: tstz().notNull().defaultNow(),
};
