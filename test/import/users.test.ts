import { randomBytes } from 'node:crypto';
import { FirebaseScrypt } from 'firebase-scrypt';
import { describe, expect, it } from 'vitest';
import { verifyPassword } from '../../src/features/auth/passwords.js';
import { chooseTwin, importHash, mapUser, type SupabaseUser } from '../../src/import/users.js';

// The users rules on their own: which twin keeps an address, which hashes are kept, and how
// an account is classified. (End to end on a real-shaped source: import-supabase-real.test.ts.)

const twin = (id: string, has_password: boolean, last_sign_in_at: string | null, created_at = '2024-01-01T00:00:00Z') => ({ id, has_password, last_sign_in_at, created_at });

describe('chooseTwin', () => {
  it('prefers the account with a password, then the latest sign-in, then the oldest; the mapping file overrides', () => {
    expect(chooseTwin('a@x.io', [twin('sso', false, '2026-01-01T00:00:00Z'), twin('pw', true, null)])).toEqual({ kept: 'pw', why: 'the only one with a password' });
    expect(chooseTwin('a@x.io', [twin('old', true, '2024-01-01T00:00:00Z'), twin('recent', true, '2025-01-01T00:00:00Z')])).toEqual({ kept: 'recent', why: 'the latest sign-in' });
    expect(chooseTwin('a@x.io', [twin('never', true, null), twin('once', true, '2020-01-01T00:00:00Z')])).toEqual({ kept: 'once', why: 'the latest sign-in' });
    expect(chooseTwin('a@x.io', [twin('b', true, null, '2023-01-01T00:00:00Z'), twin('a', true, null, '2022-01-01T00:00:00Z')])).toEqual({ kept: 'a', why: 'the oldest account' });
    expect(chooseTwin('a@x.io', [twin('sso', false, null), twin('pw', true, null)], { 'a@x.io': 'sso' })).toEqual({ kept: 'sso', why: 'chosen in the mapping file (users.keep)' });
    // An override naming an id that does not share the address is ignored.
    expect(chooseTwin('a@x.io', [twin('sso', false, null), twin('pw', true, null)], { 'a@x.io': 'other' }).kept).toBe('pw');
  });
});

describe('importHash', () => {
  const fb = { signer_key: 'c2lnbmVy', salt_separator: 'Bw==', rounds: 8, mem_cost: 14 };
  it('keeps bcrypt and argon2, completes Firebase scrypt from the parameters, lists everything else', () => {
    const bcrypt = `$2a$10$${'a'.repeat(53)}`;
    expect(importHash(bcrypt, undefined)).toEqual({ hash: bcrypt });
    expect(importHash(bcrypt.replace('$2a$', '$2y$'), undefined)).toEqual({ hash: bcrypt.replace('$2a$', '$2y$') });
    const argon = '$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g';
    expect(importHash(argon, undefined)).toEqual({ hash: argon });
    expect(importHash('$fbscrypt$v=1,n=14,r=8,p=1$U0FMVA==$SEFTSA==', undefined)).toEqual({ note: 'firebase_needs_reset' });
    expect(importHash('$fbscrypt$v=1,n=14,r=8,p=1$U0FMVA==$SEFTSA==', fb)).toEqual({ hash: '$fbscrypt$v=1,n=14,r=8,p=1,ss=Bw==,sk=c2lnbmVy$U0FMVA==$SEFTSA==' });
    // Parameters that are not the ones the hash was made with cannot verify it.
    expect(importHash('$fbscrypt$v=1,n=15,r=8,p=1$U0FMVA==$SEFTSA==', fb)).toEqual({ note: 'firebase_needs_reset' });
    expect(importHash('$fbscrypt$v=1,n=14,r=8,p=1,ss=Bw==,sk=c2s=$U0FMVA==$SEFTSA==', undefined)).toEqual({ hash: '$fbscrypt$v=1,n=14,r=8,p=1,ss=Bw==,sk=c2s=$U0FMVA==$SEFTSA==' });
    for (const other of ['$1$salt$md5crypt', 'pbkdf2_sha256$260000$salt$hash', '$2a$10$short', '$fbscrypt$v=2,n=14,r=8,p=1$U0FMVA==$SEFTSA==']) {
      expect(importHash(other, fb), other).toEqual({ note: 'unusable_hash' });
    }
  });
});

describe('mapUser', () => {
  const base: SupabaseUser = {
    id: '11111111-1111-4111-8111-111111111111',
    email: 'p@example.com',
    encrypted_password: '',
    email_confirmed_at: '2024-01-01T00:00:00Z',
    raw_app_meta_data: { provider: 'email', providers: ['email'] },
    raw_user_meta_data: {},
    banned_until: null,
    deleted_at: null,
    last_sign_in_at: null,
    created_at: '2024-01-01T00:00:00Z',
    updated_at: '2024-01-01T00:00:00Z',
  };
  const now = new Date('2026-01-01T00:00:00Z');
  it('classifies who cannot come across, and what an imported account lacks', () => {
    expect(mapUser({ ...base, email: null, phone: '155501' }, now)).toEqual({ ok: false, reason: 'phone_only' });
    expect(mapUser({ ...base, email: null, is_anonymous: true }, now)).toEqual({ ok: false, reason: 'anonymous' });
    expect(mapUser({ ...base, email: null }, now)).toEqual({ ok: false, reason: 'no_email' });
    expect(mapUser({ ...base, email: 'a b@example.com' }, now)).toEqual({ ok: false, reason: 'invalid_email' });
    const notes = (u: Partial<SupabaseUser>) => (mapUser({ ...base, ...u }, now) as { notes: string[] }).notes;
    expect(notes({ is_sso_user: true })).toEqual(['sso_only']);
    expect(notes({ providers: ['sso:9b1c'] })).toEqual(['sso_only']);
    expect(notes({ providers: ['google'] })).toEqual(['oauth_only']);
    expect(notes({ raw_app_meta_data: { providers: ['github'] } })).toEqual(['oauth_only']);
    expect(notes({ providers: ['email'], email_confirmed_at: null, invited_at: '2024-01-01T00:00:00Z' })).toEqual(['magic_link_or_invited', 'unconfirmed']);
    expect(notes({ encrypted_password: '$1$x$y', mfa_factors: 1 })).toEqual(['unusable_hash', 'mfa']);
  });
  it('takes role, full name and preferences from the profile through the mapping transforms', () => {
    const mapping = { profile: { table: 'public.users', columns: { role: 'role' as const }, transforms: { role: { values: { owner: 'admin' } } } } };
    const m = mapUser({ ...base, profile: { role: 'owner', full_name: ' Pat ', preferences: { a: 1 } } }, now, mapping);
    expect(m).toMatchObject({ ok: true, row: { role: 'admin', full_name: 'Pat', preferences: { a: 1 } } });
    expect(mapUser({ ...base, profile: { role: 'editor' } }, now, mapping)).toMatchObject({ ok: true, row: { role: 'user' }, notes: ['magic_link_or_invited', 'role_unmapped'] });
  });
});

describe('verifyPassword with Firebase scrypt (what importHash stores)', () => {
  const params = { memoryCost: 19456, timeCost: 2, parallelism: 1 };
  it('verifies the right password, asks for a re-hash, refuses a wrong one and out-of-range parameters without throwing', async () => {
    const signerKey = randomBytes(64).toString('base64');
    const salt = randomBytes(12).toString('base64');
    const digest = await new FirebaseScrypt({ memCost: 14, rounds: 8, saltSeparator: 'Bw==', signerKey }).hash('correct horse 1', salt);
    const stored = (importHash(`$fbscrypt$v=1,n=14,r=8,p=1$${salt}$${digest}`, { signer_key: signerKey, salt_separator: 'Bw==', rounds: 8, mem_cost: 14 }) as { hash: string }).hash;
    expect(await verifyPassword(stored, 'correct horse 1', params)).toEqual({ ok: true, needsRehash: true });
    expect(await verifyPassword(stored, 'correct horse 2', params)).toEqual({ ok: false, needsRehash: true });
    expect(await verifyPassword(stored, '', params)).toEqual({ ok: false, needsRehash: false });
    expect(await verifyPassword(stored.replace('n=14', 'n=16'), 'correct horse 1', params)).toMatchObject({ ok: false });
  });
});
