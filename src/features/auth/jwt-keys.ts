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

// Every token a key signs has the same header segment, so the key is looked up once per
// segment, not decoded from base64 and JSON on every request. Bounded: segments an attacker
// makes up beyond it (or longer than any header we sign) are decoded each time, as before,
// and never stored.
const MAX_HEADERS = 64;
const MAX_SEGMENT = 256;

export function jwtKeyRing(current: string, previous: readonly string[] = []): JwtKeyRing {
  const byKid = new Map<string, string>(previous.map((secret) => [keyId(secret), secret]));
  const kid = keyId(current);
  byKid.set(kid, current);
  const keyOf = (segment: string): string | null => {
    const header = decodeHeader(segment);
    if (header?.kid === undefined) return current;
    return typeof header.kid === 'string' ? (byKid.get(header.kid) ?? null) : null;
  };
  const bySegment = new Map<string, string | null>();
  return {
    current: { kid, secret: current },
    keyFor(token) {
      const dot = token.indexOf('.');
      const segment = dot < 0 ? token : token.slice(0, dot);
      let key = bySegment.get(segment);
      if (key === undefined) {
        key = keyOf(segment);
        if (bySegment.size < MAX_HEADERS && segment.length <= MAX_SEGMENT) bySegment.set(segment, key);
      }
      return key;
    },
  };
}

function decodeHeader(segment: string): { kid?: unknown } | null {
  try {
    const header: unknown = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
    return header && typeof header === 'object' ? (header as { kid?: unknown }) : null;
  } catch {
    // Malformed: the verifier rejects it with the usual error.
    return null;
  }
}
