import { sql } from 'drizzle-orm';
import { bigint, check, index, inet, pgTable, text, uniqueIndex, uuid } from 'drizzle-orm/pg-core';
import { tstz } from './columns.js';
import { users } from './users.js';

export const MFA_FACTOR_STATUSES = ['unverified', 'verified'] as const;
export type MfaFactorStatus = (typeof MFA_FACTOR_STATUSES)[number];

// A user's second factors (TOTP only). The secret is stored encrypted (AES-256-GCM, see
// features/auth/mfa/secret-box.ts) under the key named by secret_key_id; it never leaves the
// server after enrolment. A factor counts once a first valid code verified it.
export const mfa_factors = pgTable(
  'mfa_factors',
  {
    id: uuid().primaryKey().defaultRandom(),
    user_id: uuid()
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    friendly_name: text(),
    factor_type: text().$type<'totp'>().notNull().default('totp'),
    status: text().$type<MfaFactorStatus>().notNull().default('unverified'),
    secret_ciphertext: text().notNull(),
    secret_key_id: text().notNull(),
    // The RFC 6238 time step of the last code accepted: a code is accepted once, never replayed.
    last_used_step: bigint({ mode: 'number' }),
    created_at: tstz().notNull().defaultNow(),
    updated_at: tstz().notNull().defaultNow(),
    verified_at: tstz(),
  },
  (t) => [
    index('mfa_factors_user_id_idx').on(t.user_id, t.status),
    uniqueIndex('mfa_factors_user_friendly_name_key').on(t.user_id, t.friendly_name),
    check('mfa_factors_type_check', sql`${t.factor_type} in ('totp')`),
    check('mfa_factors_status_check', sql`${t.status} in ('unverified', 'verified')`),
    check('mfa_factors_friendly_name_check', sql`${t.friendly_name} is null or char_length(${t.friendly_name}) between 1 and 100`),
  ],
);

// A challenge: the step between "which factor" and "this code" (GoTrue's challenge id).
export const mfa_challenges = pgTable(
  'mfa_challenges',
  {
    id: uuid().primaryKey().defaultRandom(),
    factor_id: uuid()
      .notNull()
      .references(() => mfa_factors.id, { onDelete: 'cascade' }),
    ip: inet(),
    created_at: tstz().notNull().defaultNow(),
    expires_at: tstz().notNull(),
    verified_at: tstz(),
  },
  (t) => [index('mfa_challenges_factor_id_idx').on(t.factor_id)],
);

// Recovery codes: ten per set, stored as SHA-256 only, each usable once; a new set replaces the old.
export const mfa_recovery_codes = pgTable(
  'mfa_recovery_codes',
  {
    id: bigint({ mode: 'number' }).primaryKey().generatedByDefaultAsIdentity(),
    user_id: uuid()
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    code_hash: text().notNull(),
    used_at: tstz(),
    created_at: tstz().notNull().defaultNow(),
  },
  (t) => [index('mfa_recovery_codes_user_id_idx').on(t.user_id), uniqueIndex('mfa_recovery_codes_user_hash_key').on(t.user_id, t.code_hash)],
);

export type MfaFactor = typeof mfa_factors.$inferSelect;
