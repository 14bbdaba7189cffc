import { sql } from 'drizzle-orm';
import { boolean, check, jsonb, pgTable, text, uniqueIndex, uuid } from 'drizzle-orm/pg-core';
import { timestamps, tstz } from './columns.js';

export const USER_ROLES = ['user', 'admin'] as const;
export type UserRole = (typeof USER_ROLES)[number];

export const users = pgTable(
  'users',
  {
    id: uuid().primaryKey().defaultRandom(),
    // Stored trimmed and lower-cased by the application; the unique index on lower()
    // keeps rows written by other tools from creating case-variant duplicates. Null only on
    // a deleted account's tombstone (users_live_check), so the address can register again.
    email: text(),
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
    // The account was deleted: the row stays as a tombstone (the audit trail's actor ids
    // still resolve) without email, name or password hash; nothing can sign in as it.
    deleted_at: tstz(),
    // Whether the user has a verified second factor: what the per-request session check reads
    // instead of looking at mfa_factors. Kept by triggers on mfa_factors (migration
    // 0008_mfa_enabled_flag), so every writer of factors keeps it right; never written by the app.
    mfa_enabled: boolean().notNull().default(false),
    ...timestamps,
  },
  (t) => [
    uniqueIndex('users_email_lower_key').on(sql`lower(${t.email})`),
    check('users_role_check', sql`${t.role} in ('user', 'admin')`),
    check('users_email_check', sql`${t.email} = lower(btrim(${t.email})) and length(${t.email}) between 3 and 320`),
    // A live account has an email; a tombstone has no email, name, hash or personal data.
    check(
      'users_live_check',
      sql`(${t.deleted_at} is null and ${t.email} is not null) or (${t.deleted_at} is not null and ${t.email} is null and ${t.full_name} is null and ${t.password_hash} is null)`,
    ),
  ],
);

/** A users row as stored: a live account or a deleted account's tombstone. */
export type UserRow = typeof users.$inferSelect;

/** A live account (not deleted): what every auth, admin and compat path works with. */
export type User = UserRow & { email: string; deleted_at: null };

/** The row when it is a live account; undefined for a tombstone or no row. */
export function liveUser(row: UserRow | undefined): User | undefined {
  return row && row.deleted_at === null && row.email !== null ? (row as User) : undefined;
}
