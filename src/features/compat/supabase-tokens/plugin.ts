import fp from 'fastify-plugin';
import type { Config } from '../../../config.js';
import { supabaseTokenVerifier } from './verify.js';

// Supabase cut-over: with SUPABASE_JWT_SECRET set, the old project's access tokens are
// accepted by authentication (see verify.ts for what makes one valid). Off otherwise.
export default fp<{ config: Config }>(
  async (app, { config }) => {
    const secret = config.auth.supabaseJwtSecret;
    if (secret) app.tokenVerifiers.add(supabaseTokenVerifier(app.db, secret));
  },
  { name: 'supabase-tokens', dependencies: ['database', 'authenticate'] },
);
