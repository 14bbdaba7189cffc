import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { createClient, type SupabaseClient } from '@supabase/supabase-js';
import { buildTestApp, type TestApp } from '../../helpers/app.js';

export const ANON_KEY = 'test-anon-key-0123456789abcdef';
export const PASSWORD = 'correct-horse-battery-staple-42';

export interface CompatServer extends TestApp {
  url: string;
  /** A fresh supabase-js client, as a browser tab would hold one (no storage shared). */
  client(): SupabaseClient;
}

class NoWebSocket {
  constructor() {
    throw new Error('offbase serves no Realtime');
  }
}

/** The real app listening on 127.0.0.1:<random>, for supabase-js to talk to over HTTP. */
export async function startCompatServer(env: Record<string, string> = {}): Promise<CompatServer> {
  const t = await buildTestApp({ OFFBASE_ANON_KEY: ANON_KEY, ...env });
  await t.app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = t.app.server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  return {
    ...t,
    url,
    client: () =>
      createClient(url, ANON_KEY, {
        auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
        // Node 20 has no global WebSocket and offbase serves no Realtime: a transport that is never opened.
        realtime: { transport: NoWebSocket as never },
      }),
  };
}

export const newEmail = () => `user-${randomUUID().slice(0, 8)}@example.com`;

/** A client signed in as a brand-new user. */
export async function signedInClient(server: CompatServer, data: Record<string, unknown> = {}) {
  const client = server.client();
  const email = newEmail();
  const { data: signedUp, error } = await client.auth.signUp({ email, password: PASSWORD, options: { data } });
  if (error || !signedUp.session) throw new Error(`signUp failed: ${error?.message}`);
  return { client, email, user: signedUp.user!, session: signedUp.session };
}
