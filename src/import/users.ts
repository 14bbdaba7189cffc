import { isAcceptedEmail } from '../features/auth/email-rule.js';
import type { Transform, UsersMapping } from './mapping.js';

// Supabase auth.users → offbase users. Ids are kept so every foreign key in the data still
// matches; bcrypt and argon2 hashes are kept as-is and Firebase scrypt hashes are made
// self-contained (login verifies them all and re-hashes to argon2id). Every account that does
// not come across, or comes across without a way to sign in, is classified by kind so the
// plan can name it.

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
  // Optional columns (older GoTrue schemas lack some): null when absent.
  phone?: string | null;
  is_sso_user?: boolean | null;
  is_anonymous?: boolean | null;
  invited_at?: string | null;
  /** providers of the user's auth.identities (raw_app_meta_data.providers without that table). */
  providers?: string[] | null;
  /** verified MFA factors in auth.mfa_factors. */
  mfa_factors?: number | null;
  /** the profile table's mapped columns, by offbase column. */
  profile?: Record<string, unknown> | null;
}

export interface OffbaseUserRow {
  id: string;
  email: string;
  password_hash: string | null;
  full_name: string | null;
  role: 'user' | 'admin';
  preferences: Record<string, unknown>;
  metadata: Record<string, unknown>;
  email_verified_at: string | null;
  disabled_at: string | null;
  last_login_at: string | null;
  created_at: string;
  updated_at: string;
}

/** Why an auth.users row does not come across. */
export type UserSkipReason = 'deleted' | 'anonymous' | 'phone_only' | 'no_email' | 'invalid_email' | 'email_collision' | 'email_taken_in_target';

/** What an imported account lacks, or what it must do at first sign-in. */
export type UserNote =
  | 'sso_only'
  | 'oauth_only'
  | 'magic_link_or_invited'
  | 'unusable_hash'
  | 'firebase_needs_reset'
  | 'unconfirmed'
  | 'banned'
  | 'mfa'
  | 'role_unmapped';

/** Columns read from auth.users; every GoTrue schema has them. */
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
/** Read when present: they tell phone-only, SSO, anonymous and invited accounts apart. */
export const USER_OPTIONAL_COLUMNS = ['phone', 'is_sso_user', 'is_anonymous', 'invited_at'] as const;

/** How each auth.users column lands, for the plan. */
export const USER_COLUMN_MAP: { source: string; target: string; note?: string }[] = [
  { source: 'id', target: 'id' },
  { source: 'email', target: 'email', note: 'trimmed and lower-cased' },
  { source: 'encrypted_password', target: 'password_hash', note: 'bcrypt / argon2 / Firebase scrypt kept; re-hashed to argon2id on first login' },
  { source: 'raw_user_meta_data.full_name (or .name)', target: 'full_name' },
  { source: 'raw_user_meta_data (the rest)', target: 'metadata', note: 'without sub, email, email_verified, phone_verified' },
  { source: "raw_app_meta_data.role = 'admin'", target: 'role', note: "'user' otherwise" },
  { source: 'email_confirmed_at', target: 'email_verified_at' },
  { source: 'banned_until (in the future)', target: 'disabled_at', note: 'set to the import time' },
  { source: 'last_sign_in_at', target: 'last_login_at' },
  { source: 'created_at', target: 'created_at' },
  { source: 'updated_at', target: 'updated_at' },
];

// Hash formats offbase's login verifies as they are: bcrypt ($2a$/$2b$/$2y$) and argon2 PHC strings.
const KEPT_HASH = /^(\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}|\$argon2(id|i|d)\$v=\d+\$m=\d+,t=\d+,p=\d+\$.+)$/;
// GoTrue's Firebase scrypt form; the salt separator and signer key may be left out of it.
const FBSCRYPT = /^\$fbscrypt\$v=(\d+),n=(\d+),r=(\d+),p=(\d+)(?:,ss=([^,$]*))?(?:,sk=([^$]+))?\$([^$]+)\$(.+)$/;
const GOTRUE_META_KEYS = ['sub', 'email', 'email_verified', 'phone_verified'];

export type UserMapping = { ok: true; row: OffbaseUserRow; notes: UserNote[] } | { ok: false; reason: UserSkipReason };

/** The stored hash as offbase keeps it, or why there is none. */
export function importHash(hash: string, firebase: UsersMapping['firebase_scrypt']): { hash: string } | { note: 'unusable_hash' | 'firebase_needs_reset' } {
  if (KEPT_HASH.test(hash)) return { hash };
  const fb = FBSCRYPT.exec(hash);
  if (!fb) return { note: 'unusable_hash' };
  const [, v, n, r, p, ss, sk, salt, digest] = fb;
  if (v !== '1' || p !== '1') return { note: 'unusable_hash' };
  if (ss !== undefined && sk !== undefined) return { hash: `$fbscrypt$v=1,n=${n},r=${r},p=1,ss=${ss},sk=${sk}$${salt}$${digest}` };
  // The hash needs the project's parameters, and they must be the ones it was made with.
  if (!firebase || Number(n) !== firebase.mem_cost || Number(r) !== firebase.rounds) return { note: 'firebase_needs_reset' };
  return { hash: `$fbscrypt$v=1,n=${n},r=${r},p=1,ss=${firebase.salt_separator},sk=${firebase.signer_key}$${salt}$${digest}` };
}

/** A profile value after the mapping file's transform. */
export function applyTransform(value: unknown, t: Transform | undefined): unknown {
  if (!t) return value;
  if (value === null || value === undefined) return t.when_null !== undefined ? t.when_null : value;
  const key = typeof value === 'string' ? value : JSON.stringify(value);
  return t.values && Object.hasOwn(t.values, key) ? t.values[key] : value;
}

function passwordlessKind(u: SupabaseUser): UserNote {
  const providers = u.providers ?? (Array.isArray(u.raw_app_meta_data?.providers) ? (u.raw_app_meta_data.providers as string[]) : []);
  if (u.is_sso_user || (providers.length > 0 && providers.every((p) => p.startsWith('sso:')))) return 'sso_only';
  if (providers.some((p) => p !== 'email' && p !== 'phone')) return 'oauth_only';
  return 'magic_link_or_invited';
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export function mapUser(u: SupabaseUser, now: Date, mapping: UsersMapping = {}): UserMapping {
  if (u.deleted_at) return { ok: false, reason: 'deleted' };
  if (u.is_anonymous) return { ok: false, reason: 'anonymous' };
  const email = u.email?.trim().toLowerCase() ?? '';
  if (!email) return { ok: false, reason: u.phone ? 'phone_only' : 'no_email' };
  if (!isAcceptedEmail(email)) return { ok: false, reason: 'invalid_email' };

  const notes: UserNote[] = [];
  let password_hash: string | null = null;
  // GoTrue stores '' rather than null for OAuth, SSO, magic-link and invited users.
  if (!u.encrypted_password) notes.push(passwordlessKind(u));
  else {
    const h = importHash(u.encrypted_password, mapping.firebase_scrypt);
    if ('hash' in h) password_hash = h.hash;
    else notes.push(h.note);
  }
  if (!u.email_confirmed_at) notes.push('unconfirmed');
  if (u.mfa_factors) notes.push('mfa');

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
  let role: 'user' | 'admin' = u.raw_app_meta_data?.role === 'admin' ? 'admin' : 'user';
  let preferences: Record<string, unknown> = {};
  let metadata = meta;
  // The profile table (mapping file) wins over what auth.users says, where it has a value.
  const t = mapping.profile?.transforms ?? {};
  const profile = u.profile ?? {};
  for (const target of ['role', 'full_name', 'preferences', 'metadata'] as const) {
    if (!Object.hasOwn(profile, target)) continue;
    const v = applyTransform(profile[target], t[target]);
    if (v === null || v === undefined) continue;
    if (target === 'role') {
      if (v === 'admin' || v === 'user') role = v;
      else notes.push('role_unmapped');
    } else if (target === 'full_name') full_name = typeof v === 'string' && v.trim() ? v.trim() : full_name;
    else if (target === 'preferences' && isObject(v)) preferences = v;
    else if (target === 'metadata' && isObject(v)) metadata = { ...metadata, ...v };
  }
  const banned = u.banned_until !== null && Date.parse(u.banned_until) > now.getTime();
  if (banned) notes.push('banned');

  const row: OffbaseUserRow = {
    id: u.id,
    email,
    password_hash,
    full_name,
    role,
    preferences,
    metadata,
    email_verified_at: u.email_confirmed_at,
    disabled_at: banned ? now.toISOString() : null,
    last_login_at: u.last_sign_in_at,
    created_at: u.created_at ?? now.toISOString(),
    updated_at: u.updated_at ?? u.created_at ?? now.toISOString(),
  };
  return { ok: true, row, notes };
}

export interface TwinCandidate {
  id: string;
  has_password: boolean;
  last_sign_in_at: string | null;
  created_at: string | null;
}

/**
 * Which of several accounts sharing an address keeps it: the one the mapping file names, else
 * the one with a password (it can sign in), then the latest sign-in, then the oldest.
 */
export function chooseTwin(email: string, candidates: TwinCandidate[], keep: Record<string, string> = {}): { kept: string; why: string } {
  const override = keep[email];
  if (override && candidates.some((c) => c.id === override)) return { kept: override, why: 'chosen in the mapping file (users.keep)' };
  const time = (s: string | null) => (s ? Date.parse(s) : -Infinity);
  const sorted = [...candidates].sort(
    (a, b) =>
      Number(b.has_password) - Number(a.has_password) ||
      time(b.last_sign_in_at) - time(a.last_sign_in_at) ||
      time(a.created_at) - time(b.created_at) ||
      (a.id < b.id ? -1 : 1),
  );
  const [first, second] = sorted as [TwinCandidate, TwinCandidate];
  const why =
    first.has_password && !second.has_password
      ? 'the only one with a password'
      : time(first.last_sign_in_at) > time(second.last_sign_in_at)
        ? 'the latest sign-in'
        : 'the oldest account';
  return { kept: first.id, why };
}
