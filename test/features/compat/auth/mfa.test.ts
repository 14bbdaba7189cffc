import { generate } from 'otplib';
import { AuthApiError } from '@supabase/supabase-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PASSWORD, signedInClient, startCompatServer, type CompatServer } from '../helpers.js';

// supabase-js's auth.mfa against /auth/v1 over real HTTP, with an otplib generator as the
// authenticator app: enroll → challengeAndVerify, the aal of the session, listFactors,
// unenroll, and the refusals (wrong code, replayed code, aal1 token on data).

let server: CompatServer;
beforeAll(async () => {
  server = await startCompatServer({ RATE_LIMIT_REGISTER_PER_IP: '1000', RATE_LIMIT_LOGIN_PER_IP: '1000', RATE_LIMIT_MFA_PER_USER: '100', RATE_LIMIT_MFA_PER_FACTOR: '100' });
});
afterAll(async () => {
  await server?.close();
});

const codeAt = (secret: string, offsetSteps = 0) => generate({ secret, epoch: Math.floor(Date.now() / 1000) + offsetSteps * 30 });

async function enrolledUser() {
  const signed = await signedInClient(server);
  const { data: enrolled, error } = await signed.client.auth.mfa.enroll({ factorType: 'totp', friendlyName: 'Authenticator' });
  expect(error).toBeNull();
  const firstCode = await codeAt(enrolled!.totp.secret);
  const verified = await signed.client.auth.mfa.challengeAndVerify({ factorId: enrolled!.id, code: firstCode });
  expect(verified.error).toBeNull();
  return { ...signed, factorId: enrolled!.id, secret: enrolled!.totp.secret, firstCode };
}

describe('auth.mfa', () => {
  it('enroll returns the TOTP secret, URI and QR code; challengeAndVerify raises the session to aal2', async () => {
    const { client } = await signedInClient(server);
    const before = await client.auth.mfa.getAuthenticatorAssuranceLevel();
    expect(before.data).toMatchObject({ currentLevel: 'aal1', nextLevel: 'aal1' });

    const { data: enrolled, error } = await client.auth.mfa.enroll({ factorType: 'totp', friendlyName: 'Phone' });
    expect(error).toBeNull();
    expect(enrolled).toMatchObject({ type: 'totp', friendly_name: 'Phone', totp: { secret: expect.stringMatching(/^[A-Z2-7]+$/), uri: expect.stringMatching(/^otpauth:\/\/totp\//) } });
    expect(enrolled!.totp.qr_code).toMatch(/^data:image\/svg\+xml;utf-8,<svg/);

    const unverified = await client.auth.mfa.listFactors();
    expect(unverified.data!.all).toEqual([expect.objectContaining({ id: enrolled!.id, status: 'unverified', factor_type: 'totp' })]);
    expect(unverified.data!.totp).toEqual([]);

    const { data: challenge, error: chErr } = await client.auth.mfa.challenge({ factorId: enrolled!.id });
    expect(chErr).toBeNull();
    expect(challenge!.expires_at).toBeGreaterThan(Date.now() / 1000);
    const { data: verified, error: vErr } = await client.auth.mfa.verify({ factorId: enrolled!.id, challengeId: challenge!.id, code: await codeAt(enrolled!.totp.secret) });
    expect(vErr).toBeNull();
    expect(verified!.access_token).toBeTruthy();

    const aal = await client.auth.mfa.getAuthenticatorAssuranceLevel();
    expect(aal.data).toMatchObject({ currentLevel: 'aal2', nextLevel: 'aal2' });
    expect(aal.data!.currentAuthenticationMethods.map((m) => (typeof m === 'string' ? m : m.method))).toEqual(expect.arrayContaining(['password', 'totp']));
    const listed = await client.auth.mfa.listFactors();
    expect(listed.data!.totp.map((f) => f.id)).toEqual([enrolled!.id]);
    // Data is reachable at aal2.
    const rows = await client.from('documents').select('id');
    expect(rows.error).toBeNull();
  });

  it('a password sign-in of an MFA user is aal1 (nextLevel aal2) and reaches no data until verified', async () => {
    const { email, factorId, secret } = await enrolledUser();
    const client = server.client();
    const { error } = await client.auth.signInWithPassword({ email, password: PASSWORD });
    expect(error).toBeNull();
    const aal = await client.auth.mfa.getAuthenticatorAssuranceLevel();
    expect(aal.data).toMatchObject({ currentLevel: 'aal1', nextLevel: 'aal2' });

    const refused = await client.from('documents').select('id');
    expect(refused.status).toBe(403);
    expect(refused.error?.code).toBe('42501');
    const update = await client.auth.updateUser({ data: { plan: 'x' } });
    expect(update.error).toBeInstanceOf(AuthApiError);
    expect(update.error?.code).toBe('insufficient_aal');
    // getUser (listFactors) works at aal1.
    expect((await client.auth.getUser()).error).toBeNull();

    const done = await client.auth.mfa.challengeAndVerify({ factorId, code: await codeAt(secret, 1) });
    expect(done.error).toBeNull();
    expect((await client.from('documents').select('id')).error).toBeNull();
  });

  it('refuses a wrong code and a replayed code with mfa_verification_failed', async () => {
    const { email, factorId, firstCode } = await enrolledUser();
    const client = server.client();
    await client.auth.signInWithPassword({ email, password: PASSWORD });
    const wrong = await client.auth.mfa.challengeAndVerify({ factorId, code: firstCode === '000000' ? '111111' : '000000' });
    expect(wrong.error).toBeInstanceOf(AuthApiError);
    expect(wrong.error).toMatchObject({ status: 422, code: 'mfa_verification_failed' });
    const replay = await client.auth.mfa.challengeAndVerify({ factorId, code: firstCode });
    expect(replay.error).toMatchObject({ status: 422, code: 'mfa_verification_failed' });
    const stranger = await signedInClient(server);
    const foreign = await stranger.client.auth.mfa.challenge({ factorId });
    expect(foreign.error).toMatchObject({ status: 404, code: 'mfa_factor_not_found' });
  });

  it('unenroll needs aal2 (422 insufficient_aal at aal1) and removes the factor', async () => {
    const { client, email, factorId } = await enrolledUser();
    const aal1 = server.client();
    await aal1.auth.signInWithPassword({ email, password: PASSWORD });
    const refused = await aal1.auth.mfa.unenroll({ factorId });
    expect(refused.error).toMatchObject({ status: 422, code: 'insufficient_aal' });
    const { data, error } = await client.auth.mfa.unenroll({ factorId });
    expect(error).toBeNull();
    expect(data).toEqual({ id: factorId });
    expect((await client.auth.mfa.listFactors()).data!.all).toEqual([]);
  });

  it('refuses factor types offbase does not serve', async () => {
    const { client } = await signedInClient(server);
    const phone = await client.auth.mfa.enroll({ factorType: 'phone', phone: '+15555550100' });
    expect(phone.error).toMatchObject({ status: 400, code: 'validation_failed' });
  });

  it('refuses an issuer or friendly name with a lone surrogate (no otpauth URI can hold it) with 400, and takes any other text', async () => {
    const { client } = await signedInClient(server);
    for (const bad of [{ issuer: '\udfff' }, { friendlyName: 'phone \ud800' }]) {
      const res = await client.auth.mfa.enroll({ factorType: 'totp', ...bad });
      expect(res.error, JSON.stringify(bad)).toMatchObject({ status: 400, code: 'validation_failed' });
    }
    const ok = await client.auth.mfa.enroll({ factorType: 'totp', issuer: 'Acme 😀 Ünïcode', friendlyName: 'phone 📱' });
    expect(ok.error).toBeNull();
    expect(ok.data!.totp.uri).toContain(encodeURIComponent('Acme 😀 Ünïcode'));
  });
});
