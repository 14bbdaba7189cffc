import { afterAll, beforeAll, expect, it } from 'vitest';
import { newEmail, PASSWORD, startCompatServer, type CompatServer } from '../helpers.js';

// GoTrue has no self-deletion: a supabase-js user is deleted through /api/v1 (docs/supabase-compat.md).
// Afterwards the /auth/v1 session is over as after a global sign-out, and the address is free.

let s: CompatServer;
beforeAll(async () => {
  s = await startCompatServer();
});
afterAll(async () => {
  await s?.close();
});

it('after DELETE /api/v1/auth/me, supabase-js can neither use nor refresh its session, nor sign in; sign-up works again', async () => {
  const email = newEmail();
  const supabase = s.client();
  const { data, error } = await supabase.auth.signUp({ email, password: PASSWORD });
  expect(error).toBeNull();
  const session = data.session!;

  const native = await s.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email, password: PASSWORD } });
  const del = await s.app.inject({ method: 'DELETE', url: '/api/v1/auth/me', headers: { authorization: `Bearer ${native.json().access_token}` }, payload: { password: PASSWORD } });
  expect(del.statusCode).toBe(204);

  const user = await supabase.auth.getUser(session.access_token);
  // GoTrue's session_not_found, which supabase-js reports as a missing session.
  expect(user.error?.name).toBe('AuthSessionMissingError');
  const refreshed = await supabase.auth.refreshSession({ refresh_token: session.refresh_token });
  expect(refreshed.error?.code).toBe('refresh_token_not_found');
  const signIn = await s.client().auth.signInWithPassword({ email, password: PASSWORD });
  expect(signIn.error?.code).toBe('invalid_credentials');
  const again = await s.client().auth.signUp({ email, password: PASSWORD });
  expect(again.error).toBeNull();
  expect(again.data.user!.id).not.toBe(session.user.id);
});
