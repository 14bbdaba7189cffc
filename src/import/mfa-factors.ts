import type { Sql } from 'postgres';
import { secretBox } from '../features/auth/mfa/secret-box.js';
import type { UsersSource } from './users-pass.js';

// Verified TOTP factors from auth.mfa_factors, so imported users keep their authenticator app.
// GoTrue stores the TOTP secret in plain text (base32) unless its database encryption was
// configured; such a secret is sealed with offbase's MFA key (features/auth/mfa/secret-box.ts)
// and the factor keeps its id, name and dates. What offbase cannot carry — phone and WebAuthn
// factors, and secrets GoTrue encrypted — is refused, unless --allow-mfa-downgrade.

/** A plain base32 TOTP secret (GoTrue's encrypted form is a JSON object). */
const PLAIN_SECRET = /^[A-Z2-7]{16,128}=*$/;

interface SourceFactor {
  id: string;
  user_id: string;
  friendly_name: string | null;
  factor_type: string;
  secret: string | null;
  created_at: string;
  updated_at: string;
}

const carryable = (f: SourceFactor) => f.factor_type === 'totp' && f.secret !== null && PLAIN_SECRET.test(f.secret);

async function verifiedFactors(source: Sql): Promise<SourceFactor[]> {
  return source<SourceFactor[]>`
    select f.id::text, f.user_id::text, f.friendly_name, f.factor_type::text, f.secret,
           f.created_at::text, f.updated_at::text
      from auth.mfa_factors f join auth.users u on u.id = f.user_id
     where u.deleted_at is null and f.status::text = 'verified'
     order by f.user_id, f.created_at, f.id`;
}

export interface MfaPlan {
  /** Verified TOTP factors with a plain secret: imported. */
  totp_factors: number;
  /** Users with a verified factor offbase cannot carry (phone, WebAuthn, an encrypted secret). */
  uncarried_users: { id: string; factor_types: string[] }[];
  /** With --apply: factors written this run (0 when every one was already there). */
  imported?: number;
}

export async function planMfaFactors(source: Sql, src: UsersSource): Promise<MfaPlan> {
  if (!src.mfaFactors) return { totp_factors: 0, uncarried_users: [] };
  const factors = await verifiedFactors(source);
  const uncarried = new Map<string, Set<string>>();
  for (const f of factors) {
    if (carryable(f)) continue;
    const kind = f.factor_type === 'totp' ? 'totp (encrypted secret)' : f.factor_type;
    uncarried.set(f.user_id, (uncarried.get(f.user_id) ?? new Set()).add(kind));
  }
  return {
    totp_factors: factors.filter(carryable).length,
    uncarried_users: [...uncarried].map(([id, kinds]) => ({ id, factor_types: [...kinds].sort() })),
  };
}

/**
 * Writes the carryable factors of users present in offbase; a factor already imported (same id)
 * is left alone, so running the import again changes nothing. Returns how many were written.
 */
export async function importMfaFactors(source: Sql, target: Sql, src: UsersSource, keys: { encryptionKey: string; previousKeys: readonly string[] }): Promise<number> {
  if (!src.mfaFactors) return 0;
  const box = secretBox(keys.encryptionKey, keys.previousKeys);
  let written = 0;
  for (const f of (await verifiedFactors(source)).filter(carryable)) {
    const sealed = box.seal(f.id, f.secret!);
    const name = f.friendly_name?.trim() ? f.friendly_name.trim().slice(0, 100) : null;
    const rows = await target`
      insert into mfa_factors (id, user_id, friendly_name, factor_type, status, secret_ciphertext, secret_key_id, created_at, updated_at, verified_at)
      select ${f.id}::uuid, ${f.user_id}::uuid, ${name}, 'totp', 'verified', ${sealed.ciphertext}, ${sealed.keyId}, ${f.created_at}::timestamptz, ${f.updated_at}::timestamptz, ${f.updated_at}::timestamptz
       where exists (select 1 from users where id = ${f.user_id}::uuid)
      on conflict do nothing
      returning id`;
    written += rows.length;
  }
  return written;
}
