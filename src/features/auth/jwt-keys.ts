import { createHmac } from 'node:crypto';

// HS256 signing keys with ids, so JWT_SECRET can rotate without rejecting live tokens:
// tokens are signed with the current key and carry its `kid`; the previous keys
// (JWT_PREVIOUS_SECRETS) still verify the tokens they signed. See docs/deploy-aws.md.

/** A key's id: derived from the key (no registry to keep in step), revealing nothing about it. */
export const keyId = (secret: string): string => createHmac('sha256', secret).update('offbase-jwt-kid').digest('base64url').slice(0, 16);

export interface JwtKeyRing {
  current: { kid: string; secret: string };
  /**
   * The key that must have signed `token`, chosen by its `kid`: the current key for a token
   * without one (signed before keys had ids), null for an id that is not ours.
   */
  keyFor(token: string): string | null;
}

export function jwtKeyRing(current: string, previous: readonly string[] = []): JwtKeyRing {
  const byKid = new Map<string, string>(previous.map((secret) => [keyId(secret), secret]));
  const kid = keyId(current);
  byKid.set(kid, current);
  return {
    current: { kid, secret: current },
    keyFor(token) {
      const header = decodeHeader(token);
      if (header?.kid === undefined) return current;
      return typeof header.kid === 'string' ? (byKid.get(header.kid) ?? null) : null;
    },
  };
}

function decodeHeader(token: string): { kid?: unknown } | null {
  try {
    const header: unknown = JSON.parse(Buffer.from(token.slice(0, token.indexOf('.')), 'base64url').toString('utf8'));
    return header && typeof header === 'object' ? (header as { kid?: unknown }) : null;
  } catch {
    // Malformed: the verifier rejects it with the usual error.
    return null;
  }
}
