import { createCipheriv, createDecipheriv, createHash, createHmac, randomBytes } from 'node:crypto';

// TOTP secrets at rest: AES-256-GCM under MFA_ENCRYPTION_KEY, bound to their factor's id (the
// additional authenticated data), so a ciphertext copied onto another row does not decrypt.
// Each row names the key that encrypted it (a key id derived from the key, revealing nothing
// about it); MFA_PREVIOUS_ENCRYPTION_KEYS still decrypt after a rotation, and a row under an
// old key is re-encrypted with the current one the next time its factor is used.

const IV_BYTES = 12;
const TAG_BYTES = 16;

/** A key's id: stored per row, so a decrypt knows which key to use. */
export const mfaKeyId = (key: string): string => createHmac('sha256', key).update('offbase-mfa-kid').digest('base64url').slice(0, 16);
// Any string of 32+ bytes is accepted as configured; AES-256 wants exactly 32 bytes.
const aesKey = (key: string) => createHash('sha256').update(key).digest();

export interface SealedSecret {
  ciphertext: string;
  keyId: string;
}

export interface SecretBox {
  seal(factorId: string, secret: string): SealedSecret;
  /** The secret, and whether it was sealed under a previous key (re-seal it). Throws when no key fits. */
  open(factorId: string, sealed: SealedSecret): { secret: string; stale: boolean };
}

export function secretBox(current: string, previous: readonly string[] = []): SecretBox {
  const currentId = mfaKeyId(current);
  const keys = new Map<string, Buffer>(previous.map((k) => [mfaKeyId(k), aesKey(k)]));
  keys.set(currentId, aesKey(current));
  return {
    seal(factorId, secret) {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', keys.get(currentId)!, iv);
      cipher.setAAD(Buffer.from(factorId));
      const body = Buffer.concat([cipher.update(secret, 'utf8'), cipher.final()]);
      return { ciphertext: Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64'), keyId: currentId };
    },
    open(factorId, sealed) {
      const key = keys.get(sealed.keyId);
      if (!key) throw new Error(`no MFA key with id ${sealed.keyId} is configured`);
      const raw = Buffer.from(sealed.ciphertext, 'base64');
      const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, IV_BYTES));
      decipher.setAAD(Buffer.from(factorId));
      decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
      const secret = Buffer.concat([decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8');
      return { secret, stale: sealed.keyId !== currentId };
    },
  };
}
