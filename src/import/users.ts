// Supabase auth.users → offbase users. Ids are kept so every foreign key in the data still
// matches; bcrypt hashes are kept as-is (login verifies them and re-hashes to argon2id).

export interface SupabaseUser {
  id: string;
  email: string | null;
  encrypted_password: string | null;
  email_confirmed_at: string | null;
  raw_app_meta_data: Record<string, unknown> | null;
  raw_user_meta_data: Record<string, unknown> | null;
  banned_until: string | null;
  deleted_at: string | null;
  last_sign_in_at: string | null;
  created_at: string | null;
  updated_at: string | null;
}

export interface OffbaseUserRow {
  id: string;
  email: string;
  password_hash: string | null;
  full_name: string | null;
  role: 'user' | 'admin';
  metadata: Record<string, unknown>;
  email_verified_at: string | null;
  disabled_at: string | null;
  last_login_at: string | null;
  created_at: string;
  updated_at: string;
}

export type UserSkipReason = 'deleted' | 'no_email' | 'invalid_email' | 'email_collision' | 'email_taken_in_target';

/** Columns read from auth.users; only the ones the mapping uses (plus the fixed set Supabase documents). */
export const USER_SOURCE_COLUMNS = [
  'id',
  'email',
  'encrypted_password',
  'email_confirmed_at',
  'raw_app_meta_data',
  'raw_user_meta_data',
  'banned_until',
  'deleted_at',
  'last_sign_in_at',
  'created_at',
  'updated_at',
] as const;

/** How each auth.users column lands, for the plan. */
export const USER_COLUMN_MAP: { source: string; target: string; note?: string }[] = [
  { source: 'id', target: 'id' },
  { source: 'email', target: 'email', note: 'trimmed and lower-cased' },
  { source: 'encrypted_password', target: 'password_hash', note: 'bcrypt kept as-is; re-hashed to argon2id on first login' },
  { source: 'raw_user_meta_data.full_name (or .name)', target: 'full_name' },
  { source: 'raw_user_meta_data (the rest)', target: 'metadata', note: 'without sub, email, email_verified, phone_verified' },
  { source: "raw_app_meta_data.role = 'admin'", target: 'role', note: "'user' otherwise" },
  { source: 'email_confirmed_at', target: 'email_verified_at' },
  { source: 'banned_until (in the future)', target: 'disabled_at', note: 'set to the import time' },
  { source: 'last_sign_in_at', target: 'last_login_at' },
  { source: 'created_at', target: 'created_at' },
  { source: 'updated_at', target: 'updated_at' },
];

// Hash formats offbase's login can verify: bcrypt ($2a$/$2b$/$2y$) and argon2 PHC strings.
const KNOWN_HASH = /^(\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}|\$argon2(id|i|d)\$.+)$/;
const EMAIL = /^[^\s@]+@[^\s@]+$/;
const GOTRUE_META_KEYS = ['sub', 'email', 'email_verified', 'phone_verified'];

export type UserMapping =
  | { ok: true; row: OffbaseUserRow; notes: ('no_password' | 'unrecognized_hash' | 'banned')[] }
  | { ok: false; reason: UserSkipReason };

export function mapUser(u: SupabaseUser, now: Date): UserMapping {
  if (u.deleted_at) return { ok: false, reason: 'deleted' };
  const email = u.email?.trim().toLowerCase() ?? '';
  if (!email) return { ok: false, reason: 'no_email' };
  if (!EMAIL.test(email) || email.length < 3 || email.length > 320) return { ok: false, reason: 'invalid_email' };

  const notes: ('no_password' | 'unrecognized_hash' | 'banned')[] = [];
  // GoTrue stores '' rather than null for OAuth and magic-link users.
  let password_hash: string | null = u.encrypted_password || null;
  if (!password_hash) notes.push('no_password');
  else if (!KNOWN_HASH.test(password_hash)) {
    password_hash = null;
    notes.push('unrecognized_hash');
  }

  const meta = { ...(u.raw_user_meta_data ?? {}) };
  // GoTrue copies identity facts into user metadata; offbase keeps them in columns instead.
  for (const key of GOTRUE_META_KEYS) delete meta[key];
  let full_name: string | null = null;
  for (const key of ['full_name', 'name']) {
    if (typeof meta[key] === 'string' && (meta[key] as string).trim()) {
      full_name = (meta[key] as string).trim();
      delete meta[key];
      break;
    }
  }
  const banned = u.banned_until !== null && Date.parse(u.banned_until) > now.getTime();
  if (banned) notes.push('banned');

  const row: OffbaseUserRow = {
    id: u.id,
    email,
    password_hash,
    full_name,
    role: u.raw_app_meta_data?.role === 'admin' ? 'admin' : 'user',
    metadata: meta,
    email_verified_at: u.email_confirmed_at,
    disabled_at: banned ? now.toISOString() : null,
    last_login_at: u.last_sign_in_at,
    created_at: u.created_at ?? now.toISOString(),
    updated_at: u.updated_at ?? u.created_at ?? now.toISOString(),
  };
  return { ok: true, row, notes };
}
