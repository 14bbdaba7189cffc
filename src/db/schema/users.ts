import { sql } from 'drizzle-orm';
import { check, jsonb, pgTable, text, uniqueIndex, uuid } from 'drizzle-orm/pg-core';
import { timestamps, tstz } from './columns.js';

export const USER_ROLES = ['user', 'admin'] as const;
export type UserRole = (typeof USER_ROLES)[number];

export const users = pgTable(
  'users',
  {
    id: uuid().primaryKey().defaultRandom(),
    // Stored trimmed and lower-cased by the application; the unique index on lower()
    // keeps rows written by other tools from creating case-variant duplicates.
    email: text().notNull(),
    // PHC string (argon2id) or a bcrypt hash carried over from Supabase; null for users
    // imported without a password (OAuth / magic link), who must reset it.
    password_hash: text(),
    full_name: text(),
    role: text().$type<UserRole>().notNull().default('user'),
    preferences: jsonb().$type<Record<string, unknown>>().notNull().default({}),
    metadata: jsonb().$type<Record<string, unknown>>().notNull().default({}),
    email_verified_at: tstz(),
    disabled_at: tstz(),
    last_login_at: tstz(),
    // When all of the user's sessions were last ended (global logout, password change or
    // reset, disabling). Tokens no session row backs (Supabase cut-over tokens) issued before
    // it are refused.
    sessions_revoked_at: tstz(),
    ...timestamps,
  },
  (t) => [
    uniqueIndex('users_email_lower_key').on(sql`lower(${t.email})`),
    check('users_role_check', sql`${t.role} in ('user', 'admin')`),
    check('users_email_check', sql`${t.email} = lower(btrim(${t.email})) and length(${t.email}) between 3 and 320`),
  ],
);

export type User = typeof users.$inferSelect;
