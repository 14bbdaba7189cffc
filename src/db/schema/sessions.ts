import { sql } from 'drizzle-orm';
import { bigint, check, index, inet, jsonb, pgTable, text, uniqueIndex, uuid } from 'drizzle-orm/pg-core';
import { tstz } from './columns.js';
import { mfa_factors } from './mfa.js';
import { users } from './users.js';

// A session is one sign-in: the family every refresh token it rotates through belongs to.
// Its id is the access token's `sid` claim, so revoking the session kills both kinds of token.
export const sessions = pgTable(
  'sessions',
  {
    id: uuid().primaryKey().defaultRandom(),
    user_id: uuid()
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    user_agent: text(),
    ip: inet(),
    created_at: tstz().notNull().defaultNow(),
    refreshed_at: tstz(),
    expires_at: tstz().notNull(),
    revoked_at: tstz(),
    revoked_reason: text(),
    // Authenticator assurance level: aal1 after a password, aal2 once a second factor verified.
    aal: text().$type<SessionAal>().notNull().default('aal1'),
    // How the session was authenticated, GoTrue's amr: [{ method: 'password' | 'otp' | 'totp' | 'recovery_code', timestamp }].
    amr: jsonb().$type<AmrEntry[]>().notNull().default([]),
    // The factor whose code raised the session to aal2 (GoTrue's sessions.factor_id); null for
    // aal1, for a recovery code and for sessions raised before migration 0009. Removing that
    // factor takes the session back to aal1, and so does MFA going off (drizzle/0010).
    factor_id: uuid().references(() => mfa_factors.id, { onDelete: 'set null' }),
  },
  (t) => [
    index('sessions_user_id_idx').on(t.user_id),
    index('sessions_factor_id_idx').on(t.factor_id).where(sql`${t.factor_id} is not null`),
    check('sessions_aal_check', sql`${t.aal} in ('aal1', 'aal2')`),
  ],
);

export type SessionAal = 'aal1' | 'aal2';
export interface AmrEntry {
  method: string;
  timestamp: number;
}

// Opaque refresh tokens: only the SHA-256 of the token is stored.
export const refresh_tokens = pgTable(
  'refresh_tokens',
  {
    id: bigint({ mode: 'number' }).primaryKey().generatedByDefaultAsIdentity(),
    session_id: uuid()
      .notNull()
      .references(() => sessions.id, { onDelete: 'cascade' }),
    token_hash: text().notNull(),
    // Set when the token was rotated (exchanged for a new one); presenting it again after
    // the grace interval is reuse and revokes the whole family.
    used_at: tstz(),
    // The token that replaced this one, so a racing tab inside the grace interval can be
    // handed the same successor instead of forking the family.
    replaced_by: bigint({ mode: 'number' }),
    revoked_at: tstz(),
    created_at: tstz().notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('refresh_tokens_token_hash_key').on(t.token_hash),
    index('refresh_tokens_session_id_idx').on(t.session_id),
  ],
);

export const ONE_TIME_TOKEN_KINDS = ['password_reset', 'email_verification'] as const;
export type OneTimeTokenKind = (typeof ONE_TIME_TOKEN_KINDS)[number];

export const one_time_tokens = pgTable(
  'one_time_tokens',
  {
    id: bigint({ mode: 'number' }).primaryKey().generatedByDefaultAsIdentity(),
    user_id: uuid()
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    kind: text().$type<OneTimeTokenKind>().notNull(),
    token_hash: text().notNull(),
    expires_at: tstz().notNull(),
    used_at: tstz(),
    created_at: tstz().notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('one_time_tokens_token_hash_key').on(t.token_hash),
    index('one_time_tokens_user_id_idx').on(t.user_id, t.kind),
    check('one_time_tokens_kind_check', sql`${t.kind} in ('password_reset', 'email_verification')`),
  ],
);
