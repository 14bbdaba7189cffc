import { readFileSync } from 'node:fs';
import { decodeProtectedHeader, importJWK, jwtVerify, type CryptoKey, type JWK, type JWTPayload } from 'jose';
import { ConfigError } from '../../../config.js';

// The old Supabase project's asymmetric signing keys (ES256, RS256, EdDSA), published as a
// JWKS: given inline, as a file, or as a URL fetched at boot. Each key is pinned to one
// algorithm (its `alg`, else the one its type implies), and a token is verified only with the
// key its `kid` names and only with that key's algorithm: `none`, HS256 signed with a public
// key, or RS384 on an RS256 key are refused before any signature is looked at. The
// verification itself is jose's.

type Alg = 'ES256' | 'ES384' | 'RS256' | 'EdDSA';
const ALLOWED: readonly string[] = ['ES256', 'ES384', 'RS256', 'EdDSA'] satisfies Alg[];

interface PinnedKey {
  alg: Alg;
  key: CryptoKey | Uint8Array;
}

/** The algorithm a public key is pinned to: its declared `alg`, else the usual one for its type. */
function pinnedAlg(jwk: JWK): Alg | null {
  if (jwk.alg !== undefined) return ALLOWED.includes(jwk.alg) ? (jwk.alg as Alg) : null;
  if (jwk.kty === 'EC') return jwk.crv === 'P-256' ? 'ES256' : jwk.crv === 'P-384' ? 'ES384' : null;
  if (jwk.kty === 'RSA') return 'RS256';
  if (jwk.kty === 'OKP' && jwk.crv === 'Ed25519') return 'EdDSA';
  return null;
}

/** Parses a JWKS document into kid → pinned key. Symmetric, private and unusable keys are skipped. */
export async function parseJwks(text: string, where: string): Promise<Map<string, PinnedKey>> {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new ConfigError(`SUPABASE_JWKS: ${where} is not JSON`);
  }
  const keys = (doc as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys)) throw new ConfigError(`SUPABASE_JWKS: ${where} has no "keys" array`);
  const out = new Map<string, PinnedKey>();
  for (const raw of keys as JWK[]) {
    if (!raw || typeof raw !== 'object' || typeof raw.kid !== 'string' || !raw.kid) continue;
    // A private key here would be a leak, an oct key the HS-with-public-key confusion: neither verifies.
    if (raw.kty === 'oct' || 'd' in raw || (raw.use !== undefined && raw.use !== 'sig')) continue;
    const alg = pinnedAlg(raw);
    if (!alg || out.has(raw.kid)) continue;
    try {
      out.set(raw.kid, { alg, key: await importJWK({ ...raw, alg }, alg) });
    } catch {
      // a malformed key is skipped; the others still verify.
    }
  }
  if (out.size === 0) throw new ConfigError(`SUPABASE_JWKS: ${where} has no usable public signing key (ES256, RS256, ES384 or EdDSA, each with a kid)`);
  return out;
}

export interface JwksOptions {
  timeoutMs: number;
  /** After a refetch, unknown kids wait this long before the next one (a flood of forged kids cannot hammer Supabase). */
  cooldownMs: number;
  warn?: (message: string) => void;
}

/** Verifies tokens against a JWKS; a URL source is refetched (bounded) when a token names an unknown kid. */
export class SupabaseJwks {
  #keys: Map<string, PinnedKey>;
  readonly #refetch: (() => Promise<Map<string, PinnedKey>>) | null;
  #lastFetch = Date.now();
  #inflight: Promise<void> | null = null;
  readonly #cooldownMs: number;
  readonly #warn: (message: string) => void;

  private constructor(keys: Map<string, PinnedKey>, refetch: (() => Promise<Map<string, PinnedKey>>) | null, o: JwksOptions) {
    this.#keys = keys;
    this.#refetch = refetch;
    this.#cooldownMs = o.cooldownMs;
    this.#warn = o.warn ?? (() => {});
  }

  /**
   * From SUPABASE_JWKS: inline JSON (starts with `{`), an http(s) URL (fetched now: a URL that
   * cannot be fetched stops the boot with one line), or a file path.
   */
  static async load(value: string, o: JwksOptions): Promise<SupabaseJwks> {
    const v = value.trim();
    if (v.startsWith('{')) return new SupabaseJwks(await parseJwks(v, 'the inline value'), null, o);
    if (/^https?:\/\//i.test(v)) {
      const url = new URL(v);
      const fetchKeys = () => fetchJwks(url, o.timeoutMs);
      return new SupabaseJwks(await fetchKeys(), fetchKeys, o);
    }
    let text: string;
    try {
      text = readFileSync(v, 'utf8');
    } catch (err) {
      throw new ConfigError(`SUPABASE_JWKS: cannot read the file ${v} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
    return new SupabaseJwks(await parseJwks(text, `the file ${v}`), null, o);
  }

  get kids(): string[] {
    return [...this.#keys.keys()];
  }

  async #keyFor(kid: string): Promise<PinnedKey | undefined> {
    const known = this.#keys.get(kid);
    if (known || !this.#refetch) return known;
    // Key rotation on the Supabase side: refetch once per cooldown, one request at a time.
    if (!this.#inflight && Date.now() - this.#lastFetch >= this.#cooldownMs) {
      this.#lastFetch = Date.now();
      this.#inflight = this.#refetch()
        .then((keys) => void (this.#keys = keys))
        .catch((err: unknown) => this.#warn(`supabase-tokens: JWKS refresh failed, keeping the cached keys: ${err instanceof Error ? err.message : String(err)}`))
        .finally(() => void (this.#inflight = null));
    }
    if (this.#inflight) await this.#inflight;
    return this.#keys.get(kid);
  }

  /** The payload of a token signed by one of these keys with that key's algorithm, unexpired; else null. */
  async verify(token: string, audience: string, issuer: string | null): Promise<JWTPayload | null> {
    let header: { alg?: string; kid?: string };
    try {
      header = decodeProtectedHeader(token);
    } catch {
      return null;
    }
    if (typeof header.kid !== 'string' || typeof header.alg !== 'string' || !ALLOWED.includes(header.alg)) return null;
    const key = await this.#keyFor(header.kid);
    if (!key || key.alg !== header.alg) return null;
    try {
      const { payload } = await jwtVerify(token, key.key, {
        algorithms: [key.alg],
        audience,
        ...(issuer ? { issuer } : {}),
        requiredClaims: ['exp', 'iat', 'sub'],
        clockTolerance: 0,
      });
      return payload;
    } catch {
      return null;
    }
  }
}

/** A JWKS is a few KB; a source that sends more is refused without reading the rest. */
const MAX_JWKS_BYTES = 1_048_576;

/** Why a fetch (or the read of its body) failed, in a few words. */
function fetchFailure(err: unknown, timeoutMs: number): string {
  const e = err as Error & { cause?: { code?: string } };
  return e.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : (e.cause?.code ?? e.message);
}

async function fetchJwks(url: URL, timeoutMs: number): Promise<Map<string, PinnedKey>> {
  const where = url.origin + url.pathname;
  const tooLarge = () => new ConfigError(`SUPABASE_JWKS: ${where} is larger than 1 MiB`);
  let res: Response;
  try {
    // The timeout covers the body too: the signal aborts a body that stalls half-way.
    res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: 'error', headers: { accept: 'application/json' } });
  } catch (err) {
    throw new ConfigError(`SUPABASE_JWKS: cannot fetch ${where}: ${fetchFailure(err, timeoutMs)}`);
  }
  if (!res.ok) {
    await res.body?.cancel();
    throw new ConfigError(`SUPABASE_JWKS: ${where} answered ${res.status}`);
  }
  if (Number(res.headers.get('content-length') ?? 0) > MAX_JWKS_BYTES) {
    await res.body?.cancel();
    throw tooLarge();
  }
  // Read up to the limit, counting bytes as they arrive (a chunked body declares no length):
  // leaving the loop cancels the stream, so the rest is never read.
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for await (const chunk of res.body ?? []) {
      size += chunk.byteLength;
      if (size > MAX_JWKS_BYTES) throw tooLarge();
      chunks.push(chunk);
    }
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(`SUPABASE_JWKS: cannot fetch ${where}: ${fetchFailure(err, timeoutMs)}`);
  }
  return parseJwks(Buffer.concat(chunks).toString('utf8'), where);
}
