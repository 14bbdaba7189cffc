import { createHash, timingSafeEqual } from 'node:crypto';

// The anon key: what supabase-js sends as `apikey` on every request (and as the Bearer token
// while nobody is signed in). Supabase's gateway refuses requests without it; so does offbase.
// It identifies the client application, not a user: it grants nothing a user token would.

const digest = (value: string) => createHash('sha256').update(value).digest();

// The configured key's digest, made once (the key is one string for the process's life).
let anon: { key: string; digest: Buffer } | null = null;
const anonDigest = (key: string): Buffer => (anon?.key === key ? anon.digest : (anon = { key, digest: digest(key) }).digest);

export type ApiKeyCheck = 'ok' | 'missing' | 'invalid' | 'not_configured';

/** What the checks read from a request: its headers and its parsed query string. */
export interface ApiKeySource {
  headers: { apikey?: string | string[] | undefined; authorization?: string | undefined };
  query?: unknown;
}

/** The `apikey` header, or the `apikey` query parameter (links and EventSource cannot set headers). */
export function presentedApiKey(request: ApiKeySource): string | undefined {
  const header = request.headers.apikey;
  if (typeof header === 'string' && header) return header;
  const query = request.query as Record<string, unknown> | undefined;
  return typeof query?.apikey === 'string' && query.apikey ? query.apikey : undefined;
}

/**
 * Constant-time comparison of the presented key with OFFBASE_ANON_KEY. A candidate of another
 * length is not the key, and says so at once: the key is public (every frontend ships it), so
 * its length is no secret, and a user's Bearer token (far longer) is not hashed on every call.
 */
export function isAnonKey(anonKey: string | null, candidate: string | undefined): boolean {
  if (!anonKey || candidate === undefined || candidate.length !== anonKey.length) return false;
  return timingSafeEqual(anonDigest(anonKey), digest(candidate));
}

export function checkApiKey(anonKey: string | null, request: ApiKeySource): ApiKeyCheck {
  if (!anonKey) return 'not_configured';
  const presented = presentedApiKey(request);
  if (presented === undefined) return 'missing';
  return isAnonKey(anonKey, presented) ? 'ok' : 'invalid';
}

export const API_KEY_MESSAGES: Record<Exclude<ApiKeyCheck, 'ok'>, string> = {
  missing: 'No API key found in request',
  invalid: 'Invalid API key',
  not_configured: 'The Supabase-compatible API is disabled: set OFFBASE_ANON_KEY to enable it',
};

/** The Bearer token of the request, unless it is the anon key (which means "nobody signed in"). */
export function userBearer(anonKey: string | null, request: ApiKeySource): string | null {
  const header = request.headers.authorization;
  const m = header ? /^bearer\s+(\S+)\s*$/i.exec(header) : null;
  if (!m) return null;
  return isAnonKey(anonKey, m[1]) ? null : m[1]!;
}
