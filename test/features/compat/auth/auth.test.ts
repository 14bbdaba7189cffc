import { createHmac, randomUUID } from 'node:crypto';
import { AuthApiError, AuthWeakPasswordError, isAuthSessionMissingError } from '@supabase/supabase-js';
import type { RecordingMailer } from '../../../../src/plugins/mailer.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ANON_KEY, newEmail, PASSWORD, signedInClient, startCompatServer, type CompatServer } from '../helpers.js';

// supabase-js's auth client (auth-js) against /auth/v1 over real HTTP: the calls frontends make,
// the objects they get back and the errors they branch on.

let server: CompatServer;
beforeAll(async () => {
  // Many sign-ups from one address: lift the per-IP register limit for this file (the limiter itself is tested below).
  server = await startCompatServer({ RATE_LIMIT_REGISTER_PER_IP: '1000', RATE_LIMIT_LOGIN_PER_IP: '1000' });
});
afterAll(async () => {
  await server?.close();
});

const decode = (jwt: string) => JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;

describe('signUp', () => {
  it('creates the user and a session in GoTrue shape, with data as user_metadata', async () => {
    const client = server.client();
    const email = newEmail();
    const { data, error } = await client.auth.signUp({ email, password: PASSWORD, options: { data: { full_name: 'Ada Lovelace', plan: 'pro' } } });
    expect(error).toBeNull();
    const { user, session } = data;
    expect(session).toMatchObject({ token_type: 'bearer', expires_in: expect.any(Number), expires_at: expect.any(Number), refresh_token: expect.any(String) });
    expect(session!.expires_at).toBeGreaterThan(Date.now() / 1000);
    expect(user).toMatchObject({
      email,
      aud: 'authenticated',
      role: 'authenticated',
      app_metadata: { provider: 'email', providers: ['email'], role: 'user' },
      user_metadata: { full_name: 'Ada Lovelace', plan: 'pro', email, email_verified: false },
      last_sign_in_at: null,
      is_anonymous: false,
    });
    expect(Date.parse(user!.created_at)).not.toBeNaN();

    const claims = decode(session!.access_token);
    expect(claims).toMatchObject({
      sub: user!.id,
      aud: 'authenticated',
      role: 'authenticated',
      email,
      session_id: expect.any(String),
      user_metadata: expect.objectContaining({ full_name: 'Ada Lovelace', plan: 'pro' }),
      app_metadata: expect.objectContaining({ provider: 'email' }),
      aal: 'aal1',
    });
    expect(claims.sid).toBe(claims.session_id);
    expect(claims.exp).toBe(session!.expires_at);
    expect(typeof claims.iat).toBe('number');

    // The session is the one supabase-js now holds.
    const { data: current } = await client.auth.getSession();
    expect(current.session?.access_token).toBe(session!.access_token);
    // Nothing secret left the server.
    expect(JSON.stringify(data)).not.toContain(PASSWORD);
    expect(server.logs.join('\n')).not.toContain(PASSWORD);
  });

  it('answers a duplicate email with user_already_exists (422)', async () => {
    const email = newEmail();
    await server.client().auth.signUp({ email, password: PASSWORD });
    const { data, error } = await server.client().auth.signUp({ email: email.toUpperCase(), password: PASSWORD });
    expect(data.user).toBeNull();
    expect(error).toBeInstanceOf(AuthApiError);
    expect(error).toMatchObject({ status: 422, code: 'user_already_exists', message: 'User already registered' });
  });

  it('answers a weak password with AuthWeakPasswordError and its reasons', async () => {
    const { error } = await server.client().auth.signUp({ email: newEmail(), password: 'short' });
    expect(error).toBeInstanceOf(AuthWeakPasswordError);
    expect(error).toMatchObject({ status: 422, code: 'weak_password' });
    expect((error as AuthWeakPasswordError).reasons).toContain('length');
    const common = await server.client().auth.signUp({ email: newEmail(), password: 'password123' });
    expect((common.error as AuthWeakPasswordError).reasons).toContain('pwned');
  });

  it('answers a malformed email with validation_failed (400)', async () => {
    const { error } = await server.client().auth.signUp({ email: 'not-an-email', password: PASSWORD });
    expect(error).toMatchObject({ status: 400, code: 'validation_failed' });
  });
});

describe('signInWithPassword', () => {
  it('signs in and returns a fresh session; last_sign_in_at is set', async () => {
    const { email } = await signedInClient(server);
    const client = server.client();
    const { data, error } = await client.auth.signInWithPassword({ email, password: PASSWORD });
    expect(error).toBeNull();
    expect(data.session?.access_token).toBeTruthy();
    expect(data.user?.email).toBe(email);
    expect(data.user?.last_sign_in_at).not.toBeNull();
  });

  it('answers a wrong password and an unknown email alike: invalid_credentials (400)', async () => {
    const { email } = await signedInClient(server);
    const wrong = await server.client().auth.signInWithPassword({ email, password: 'wrong-password-123' });
    const unknown = await server.client().auth.signInWithPassword({ email: newEmail(), password: PASSWORD });
    for (const { data, error } of [wrong, unknown]) {
      expect(data.session).toBeNull();
      expect(error).toBeInstanceOf(AuthApiError);
      expect(error).toMatchObject({ status: 400, code: 'invalid_credentials', message: 'Invalid login credentials' });
    }
  });
});

describe('sessions', () => {
  it('refreshSession rotates the refresh token; replaying the old one is refresh_token_already_used', async () => {
    const { client, session } = await signedInClient(server);
    const { data, error } = await client.auth.refreshSession();
    expect(error).toBeNull();
    expect(data.session!.refresh_token).not.toBe(session.refresh_token);
    expect(decode(data.session!.access_token).session_id).toBe(decode(session.access_token).session_id);

    // Past the reuse grace interval the old token is reuse: the whole session ends.
    await server.testDb.sql`update refresh_tokens set used_at = used_at - interval '1 hour' where used_at is not null`;
    const replay = await server.client().auth.refreshSession({ refresh_token: session.refresh_token });
    expect(replay.error).toMatchObject({ status: 400, code: 'refresh_token_already_used' });
    const after = await server.client().auth.getUser(data.session!.access_token);
    expect(isAuthSessionMissingError(after.error)).toBe(true);
  });

  it('an unknown refresh token is refresh_token_not_found', async () => {
    const { error } = await server.client().auth.refreshSession({ refresh_token: 'no-such-token' });
    expect(error).toMatchObject({ status: 400, code: 'refresh_token_not_found' });
  });

  it('getUser returns the user; a tampered token is bad_jwt (403)', async () => {
    const { client, user, session } = await signedInClient(server, { full_name: 'Grace' });
    const { data, error } = await client.auth.getUser();
    expect(error).toBeNull();
    expect(data.user).toMatchObject({ id: user.id, user_metadata: expect.objectContaining({ full_name: 'Grace' }) });

    const [h, p] = session.access_token.split('.');
    const { error: bad } = await server.client().auth.getUser(`${h}.${p}.AAAA`);
    expect(bad).toMatchObject({ status: 403, code: 'bad_jwt' });
  });

  it('updateUser merges data into user_metadata and changes the password', async () => {
    const { client, email } = await signedInClient(server, { full_name: 'Old', keep: 1, drop: true });
    const { data, error } = await client.auth.updateUser({ data: { full_name: 'New Name', drop: null, added: 'x' } });
    expect(error).toBeNull();
    expect(data.user!.user_metadata).toMatchObject({ full_name: 'New Name', keep: 1, added: 'x' });
    expect(data.user!.user_metadata).not.toHaveProperty('drop');

    const newPassword = 'another-long-passphrase-77';
    const changed = await client.auth.updateUser({ password: newPassword });
    expect(changed.error).toBeNull();
    expect((await server.client().auth.signInWithPassword({ email, password: PASSWORD })).error).toMatchObject({ code: 'invalid_credentials' });
    expect((await server.client().auth.signInWithPassword({ email, password: newPassword })).error).toBeNull();
    // This session survived the change.
    expect((await client.auth.getUser()).error).toBeNull();

    const weak = await client.auth.updateUser({ password: 'short' });
    expect(weak.error).toBeInstanceOf(AuthWeakPasswordError);
  });

  it('signOut local ends this session only; global ends all of them', async () => {
    const { client: first, email } = await signedInClient(server);
    const second = server.client();
    await second.auth.signInWithPassword({ email, password: PASSWORD });
    const firstToken = (await first.auth.getSession()).data.session!.access_token;
    const secondToken = (await second.auth.getSession()).data.session!.access_token;

    expect((await first.auth.signOut({ scope: 'local' })).error).toBeNull();
    expect((await first.auth.getSession()).data.session).toBeNull();
    expect(isAuthSessionMissingError((await server.client().auth.getUser(firstToken)).error)).toBe(true);
    expect((await server.client().auth.getUser(secondToken)).error).toBeNull();

    const third = server.client();
    await third.auth.signInWithPassword({ email, password: PASSWORD });
    expect((await second.auth.signOut()).error).toBeNull(); // default scope: global
    const thirdToken = (await third.auth.getSession()).data.session!.access_token;
    expect(isAuthSessionMissingError((await server.client().auth.getUser(thirdToken)).error)).toBe(true);
  });

  it('signOut others keeps this session and ends the rest; sign-in and sign-out are audited', async () => {
    const { client: first, email, user } = await signedInClient(server);
    const second = server.client();
    await second.auth.signInWithPassword({ email, password: PASSWORD });
    const secondToken = (await second.auth.getSession()).data.session!.access_token;
    expect((await first.auth.signOut({ scope: 'others' })).error).toBeNull();
    expect((await first.auth.getUser()).error).toBeNull();
    expect(isAuthSessionMissingError((await server.client().auth.getUser(secondToken)).error)).toBe(true);
    const trail = await server.testDb.sql<{ action: string }[]>`select action from audit_logs where actor_id = ${user.id} order by id`;
    expect(trail.map((t) => t.action)).toEqual(['auth.register', 'auth.login', 'auth.logout']);
  });

  it('tokens from /auth/v1 work on /api/v1 too: one implementation, two surfaces', async () => {
    const { session, user } = await signedInClient(server);
    const res = await server.app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: { authorization: `Bearer ${session.access_token}` } });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ id: user.id, role: 'user' });
  });
});

describe('recovery', () => {
  it('resetPasswordForEmail answers 200 for any address; verifyOtp with the mailed token signs in', async () => {
    const { email } = await signedInClient(server);
    const client = server.client();
    expect((await client.auth.resetPasswordForEmail(newEmail())).error).toBeNull();
    expect((await client.auth.resetPasswordForEmail(email)).error).toBeNull();
    const mail = await waitForMail(email, 'Reset');
    const token = /#token=([A-Za-z0-9_-]+)/.exec(mail)![1]!;

    const { data, error } = await client.auth.verifyOtp({ token_hash: token, type: 'recovery' });
    expect(error).toBeNull();
    expect(data.session?.user.email).toBe(email);
    expect((await client.auth.updateUser({ password: 'recovered-passphrase-99' })).error).toBeNull();
    expect((await server.client().auth.signInWithPassword({ email, password: 'recovered-passphrase-99' })).error).toBeNull();

    const again = await server.client().auth.verifyOtp({ token_hash: token, type: 'recovery' });
    expect(again.error).toMatchObject({ status: 403, code: 'otp_expired' });
  });
});

describe('verify never signs in through a stale or pointless link', () => {
  const verify = (body: object) => fetch(`${server.url}/auth/v1/verify`, { method: 'POST', headers: { apikey: ANON_KEY, 'content-type': 'application/json' }, body: JSON.stringify(body) });

  it('the sign-up confirmation link is dead after a password reset', async () => {
    const { email } = await signedInClient(server);
    const confirmation = /#token=([A-Za-z0-9_-]+)/.exec(await waitForMail(email, 'Confirm'))![1]!;
    expect((await server.client().auth.resetPasswordForEmail(email)).error).toBeNull();
    const reset = /#token=([A-Za-z0-9_-]+)/.exec(await waitForMail(email, 'Reset'))![1]!;
    const done = await server.app.inject({ method: 'POST', url: '/api/v1/auth/password/reset', payload: { token: reset, new_password: 'recovered-passphrase-99' } });
    expect(done.statusCode).toBe(204);
    const res = await verify({ type: 'signup', token_hash: confirmation });
    expect(res.status).toBe(403);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ error_code: 'otp_expired' });
    expect(body).not.toHaveProperty('access_token');
  });

  it('a confirmation link of an address already verified creates no session', async () => {
    const { email, user } = await signedInClient(server);
    const confirmation = /#token=([A-Za-z0-9_-]+)/.exec(await waitForMail(email, 'Confirm'))![1]!;
    await server.testDb.sql`update users set email_verified_at = now() where id = ${user.id}`;
    const before = await server.testDb.sql`select id from sessions where user_id = ${user.id}`;
    for (const type of ['signup', 'email']) {
      const res = await verify({ type, token_hash: confirmation });
      expect(res.status, type).toBe(403);
      expect(await res.json()).toMatchObject({ error_code: 'otp_expired' });
    }
    expect(await server.testDb.sql`select id from sessions where user_id = ${user.id}`).toHaveLength(before.length);
  });
});

describe('the anon key and the rest of the surface', () => {
  it('refuses requests without a valid apikey', async () => {
    const missing = await fetch(`${server.url}/auth/v1/settings`);
    expect(missing.status).toBe(401);
    expect(await missing.json()).toMatchObject({ code: 401, msg: 'No API key found in request' });
    const wrong = await fetch(`${server.url}/auth/v1/settings`, { headers: { apikey: 'nope' } });
    expect(wrong.status).toBe(401);
    expect(await wrong.json()).toMatchObject({ msg: 'Invalid API key' });
    const ok = await fetch(`${server.url}/auth/v1/settings`, { headers: { apikey: ANON_KEY } });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ external: { email: true }, mailer_autoconfirm: true });
  });

  it('getUser with only the anon key is bad_jwt; without any token no_authorization', async () => {
    const anon = await fetch(`${server.url}/auth/v1/user`, { headers: { apikey: ANON_KEY, authorization: `Bearer ${ANON_KEY}` } });
    expect(anon.status).toBe(403);
    expect(await anon.json()).toMatchObject({ error_code: 'bad_jwt' });
    const none = await fetch(`${server.url}/auth/v1/user`, { headers: { apikey: ANON_KEY } });
    expect(none.status).toBe(401);
    expect(await none.json()).toMatchObject({ code: 401, error_code: 'no_authorization' });
  });

  it('unknown body fields and grant types are 400 validation_failed; health answers', async () => {
    const res = await fetch(`${server.url}/auth/v1/token?grant_type=password`, {
      method: 'POST',
      headers: { apikey: ANON_KEY, 'content-type': 'application/json' },
      body: JSON.stringify({ email: newEmail(), password: PASSWORD, role: 'admin' }),
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ code: 400, error_code: 'validation_failed' });
    const grant = await fetch(`${server.url}/auth/v1/token?grant_type=magic`, {
      method: 'POST',
      headers: { apikey: ANON_KEY, 'content-type': 'application/json' },
      body: '{}',
    });
    expect(await grant.json()).toMatchObject({ code: 400, error_code: 'validation_failed', msg: 'unsupported_grant_type' });
    const health = await fetch(`${server.url}/auth/v1/health`, { headers: { apikey: ANON_KEY } });
    expect(health.status).toBe(200);
  });
});

describe('bad input', () => {
  it('is a 4xx in GoTrue shape, never a 500', async () => {
    const cases: [string, string, string | undefined][] = [
      ['POST', '/auth/v1/token?grant_type=password', '{"email":'],
      ['POST', '/auth/v1/token?grant_type=password', '"x"'],
      ['POST', '/auth/v1/token?grant_type=password', '{"email":"a@b.co","password":"\u0000"}'],
      ['POST', '/auth/v1/token?grant_type=refresh_token', `{"refresh_token":"${'x'.repeat(500)}"}`],
      ['POST', '/auth/v1/token', '{}'],
      ['POST', '/auth/v1/signup', '{"email":"a@b.co","password":"long-enough-pass-1","data":"nope"}'],
      ['POST', '/auth/v1/signup', '{"email":"a@b.co"}'],
      ['POST', '/auth/v1/verify', '{"type":"recovery","token_hash":"garbage"}'],
      ['POST', '/auth/v1/verify', '{"type":"sms","token":"1"}'],
      ['POST', '/auth/v1/recover', '{"email":"nope"}'],
      ['PUT', '/auth/v1/user', '{"data":{}}'],
      ['POST', '/auth/v1/logout?scope=everyone', undefined],
      ['GET', '/auth/v1/nope', undefined],
    ];
    for (const [method, path, body] of cases) {
      const res = await fetch(`${server.url}${path}`, { method, headers: { apikey: ANON_KEY, 'content-type': 'application/json' }, ...(body === undefined ? {} : { body }) });
      expect(res.status, `${method} ${path} ${body}`).toBeGreaterThanOrEqual(400);
      expect(res.status, `${method} ${path} ${body}`).toBeLessThan(500);
      expect(Object.keys((await res.json()) as object).sort(), `${method} ${path}`).toEqual(expect.arrayContaining(['code', 'error_code', 'msg']));
    }
  });
});

describe('caching and content types', () => {
  const post = (path: string, body: unknown, contentType = 'application/json') =>
    fetch(`${server.url}${path}`, { method: 'POST', headers: { apikey: ANON_KEY, 'content-type': contentType }, body: typeof body === 'string' ? body : JSON.stringify(body) });

  it('every response with a session says Cache-Control: no-store (signup, token, refresh, verify)', async () => {
    const email = newEmail();
    const signup = await post('/auth/v1/signup', { email, password: PASSWORD });
    const password = await post('/auth/v1/token?grant_type=password', { email, password: PASSWORD });
    const { refresh_token } = (await password.clone().json()) as { refresh_token: string };
    const refreshed = await post('/auth/v1/token?grant_type=refresh_token', { refresh_token });
    const confirmation = /#token=([A-Za-z0-9_-]+)/.exec(await waitForMail(email, 'Confirm'))![1]!;
    const verified = await post('/auth/v1/verify', { type: 'signup', token_hash: confirmation });
    for (const [name, res] of Object.entries({ signup, password, refreshed, verified })) {
      expect(res.status, name).toBe(200);
      expect(((await res.json()) as { access_token?: string }).access_token, name).toEqual(expect.any(String));
      expect(res.headers.get('cache-control'), name).toBe('no-store');
    }
  });

  it('a text/plain body is 415 in each surface\'s own shape', async () => {
    const body = JSON.stringify({ email: newEmail(), password: PASSWORD });
    const auth = await post('/auth/v1/token?grant_type=password', body, 'text/plain');
    expect(auth.status).toBe(415);
    expect(await auth.json()).toMatchObject({ code: 415, error_code: expect.any(String), msg: expect.any(String) });
    const { session } = await signedInClient(server);
    const rest = await fetch(`${server.url}/rest/v1/documents`, {
      method: 'POST',
      headers: { apikey: ANON_KEY, authorization: `Bearer ${session.access_token}`, 'content-type': 'text/plain' },
      body: JSON.stringify({ title: 't', s3_bucket: 'b', s3_key: 'k' }),
    });
    expect(rest.status).toBe(415);
    expect(await rest.json()).toMatchObject({ code: 'PGRST107', message: expect.any(String) });
  });
});

describe('rate limits', () => {
  it('answer over_request_rate_limit (429) as GoTrue does', async () => {
    const limited = await startCompatServer({ RATE_LIMIT_LOGIN_PER_EMAIL: '2' });
    try {
      const email = newEmail();
      const client = limited.client();
      let last;
      for (let i = 0; i < 3; i++) last = await client.auth.signInWithPassword({ email, password: 'wrong-password-123' });
      expect(last!.error).toMatchObject({ status: 429, code: 'over_request_rate_limit' });
    } finally {
      await limited.close();
    }
  });
});

async function waitForMail(to: string, subject: string): Promise<string> {
  const mailer = server.app.mailer as RecordingMailer;
  for (let i = 0; i < 50; i++) {
    const found = mailer.sent.find((m) => m.to === to && m.subject.includes(subject));
    if (found) return found.text;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no "${subject}" mail to ${to}`);
}

describe('with REQUIRE_EMAIL_VERIFICATION=true', () => {
  it('signUp returns the user without a session; signIn is email_not_confirmed until verified', async () => {
    const strict = await startCompatServer({ REQUIRE_EMAIL_VERIFICATION: 'true' });
    try {
      const client = strict.client();
      const email = newEmail();
      const { data, error } = await client.auth.signUp({ email, password: PASSWORD });
      expect(error).toBeNull();
      expect(data.session).toBeNull();
      expect(data.user).toMatchObject({ email, email_confirmed_at: null, aud: 'authenticated' });
      const refused = await client.auth.signInWithPassword({ email, password: PASSWORD });
      expect(refused.error).toMatchObject({ status: 400, code: 'email_not_confirmed' });

      const mailer = strict.app.mailer as RecordingMailer;
      let mail: string | undefined;
      for (let i = 0; i < 50 && !mail; i++) {
        mail = mailer.sent.find((m) => m.to === email)?.text;
        if (!mail) await new Promise((r) => setTimeout(r, 50));
      }
      const token = /#token=([A-Za-z0-9_-]+)/.exec(mail!)![1]!;
      const verified = await client.auth.verifyOtp({ token_hash: token, type: 'signup' });
      expect(verified.error).toBeNull();
      expect(verified.data.user?.email_confirmed_at).not.toBeNull();
      expect((await strict.client().auth.signInWithPassword({ email, password: PASSWORD })).error).toBeNull();
    } finally {
      await strict.close();
    }
  });
});

describe('without OFFBASE_ANON_KEY', () => {
  it('both surfaces answer 401 to every request', async () => {
    const off = await startCompatServer({ OFFBASE_ANON_KEY: '' });
    try {
      for (const path of ['/auth/v1/settings', '/rest/v1/documents']) {
        const res = await fetch(`${off.url}${path}`, { headers: { apikey: 'anything' } });
        expect(res.status, path).toBe(401);
        expect(JSON.stringify(await res.json())).toContain('OFFBASE_ANON_KEY');
      }
    } finally {
      await off.close();
    }
  });
});

describe('Supabase cut-over (SUPABASE_JWT_SECRET)', () => {
  it('a token issued by the old Supabase project works on /auth/v1 and /rest/v1 until it expires', async () => {
    const secret = 'old-supabase-project-jwt-secret-0123456789';
    const cutover = await startCompatServer({ SUPABASE_JWT_SECRET: secret });
    try {
      const { user } = await signedInClient(cutover);
      const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
      const head = b64({ alg: 'HS256', typ: 'JWT' });
      const now = Math.floor(Date.now() / 1000);
      const body = b64({ sub: user.id, aud: 'authenticated', role: 'authenticated', iat: now, exp: now + 600, session_id: randomUUID() });
      const token = `${head}.${body}.${createHmac('sha256', secret).update(`${head}.${body}`).digest('base64url')}`;

      const { data, error } = await cutover.client().auth.getUser(token);
      expect(error).toBeNull();
      expect(data.user?.id).toBe(user.id);
      const res = await fetch(`${cutover.url}/rest/v1/documents?select=id`, { headers: { apikey: ANON_KEY, authorization: `Bearer ${token}` } });
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual([]);
      const forged = await cutover.client().auth.getUser(`${head}.${body}.${createHmac('sha256', 'wrong').update(`${head}.${body}`).digest('base64url')}`);
      expect(forged.error).toMatchObject({ status: 403, code: 'bad_jwt' });
    } finally {
      await cutover.close();
    }
  });

  it('a global sign-out, password change or disable ends the Supabase token on /auth/v1 and /rest/v1', async () => {
    const secret = 'old-supabase-project-jwt-secret-0123456789';
    const cutover = await startCompatServer({ SUPABASE_JWT_SECRET: secret });
    try {
      const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
      const supabaseToken = (sub: string) => {
        const now = Math.floor(Date.now() / 1000);
        const data = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ sub, aud: 'authenticated', role: 'authenticated', iat: now, exp: now + 600, session_id: randomUUID() })}`;
        return `${data}.${createHmac('sha256', secret).update(data).digest('base64url')}`;
      };
      const rest = (token: string) => fetch(`${cutover.url}/rest/v1/documents?select=id`, { headers: { apikey: ANON_KEY, authorization: `Bearer ${token}` } });
      const ends = {
        signOut: async (client: Awaited<ReturnType<typeof signedInClient>>['client']) => expect((await client.auth.signOut()).error).toBeNull(),
        password: async (client: Awaited<ReturnType<typeof signedInClient>>['client']) => expect((await client.auth.updateUser({ password: 'another-long-passphrase-77' })).error).toBeNull(),
        disable: async (_client: unknown, id: string) => void (await cutover.testDb.sql`update users set disabled_at = now() where id = ${id}`),
      };
      for (const [name, end] of Object.entries(ends)) {
        const { client, user } = await signedInClient(cutover);
        const token = supabaseToken(user.id);
        expect((await cutover.client().auth.getUser(token)).error, name).toBeNull();
        expect((await rest(token)).status, name).toBe(200);
        await end(client, user.id);
        const after = await cutover.client().auth.getUser(token);
        // A well-signed token whose sessions ended: supabase-js reads this as "signed out".
        expect(isAuthSessionMissingError(after.error), `${name}: ${JSON.stringify(after.error)}`).toBe(true);
        const refused = await rest(token);
        expect(refused.status, name).toBe(401);
        expect(await refused.json(), name).toMatchObject({ code: 'PGRST301' });
      }
    } finally {
      await cutover.close();
    }
  });
});
