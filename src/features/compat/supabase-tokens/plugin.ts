import fp from 'fastify-plugin';
import type { Config } from '../../../config.js';
import { SupabaseJwks } from './jwks.js';
import { supabaseTokenVerifier } from './verify.js';

/** After a JWKS refetch for an unknown kid, the next one waits this long. */
const JWKS_REFETCH_COOLDOWN_MS = 30_000;

// Supabase cut-over: with SUPABASE_JWT_SECRET and/or SUPABASE_JWKS set, the old project's
// access tokens are accepted by authentication (see verify.ts for what makes one valid). Off
// otherwise. A JWKS URL is fetched here, at boot: one that cannot be fetched stops the boot.
export default fp<{ config: Config }>(
  async (app, { config }) => {
    const { supabaseJwtSecret: secret, supabaseJwks, supabaseJwksTimeoutMs, supabaseJwtIssuer: issuer } = config.auth;
    if (!secret && !supabaseJwks) return;
    const jwks = supabaseJwks
      ? await SupabaseJwks.load(supabaseJwks, { timeoutMs: supabaseJwksTimeoutMs, cooldownMs: JWKS_REFETCH_COOLDOWN_MS, warn: (m) => app.log.warn(m) })
      : null;
    if (jwks) app.log.info({ kids: jwks.kids }, 'supabase-tokens: accepting old-project tokens signed by these keys');
    app.tokenVerifiers.add(supabaseTokenVerifier(app.db, { secret, jwks, issuer }));
  },
  { name: 'supabase-tokens', dependencies: ['database', 'authenticate'] },
);
