import { randomUUID } from 'node:crypto';
import { generate, generateSecret } from 'otplib';
import type postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runImport, type ImportOptions, type ImportReport } from '../../src/import/run.js';
import { buildTestApp } from '../helpers/app.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { addGoTrueUser, createRealSupabaseSource, type RealSupabaseSource } from '../helpers/supabase-real-source.js';

// Verified TOTP factors come across from auth.mfa_factors, so the user keeps their
// authenticator app; factors offbase cannot carry (phone, an encrypted secret) keep the refusal.

let src: RealSupabaseSource;
let target: TestDatabase;
const quiet = { start() {}, tick() {}, stop() {} };
const totpSecret = generateSecret();
let totpUser: string;

async function addFactor(sql: postgres.Sql, userId: string, type: 'totp' | 'phone', secret: string | null, status = 'verified') {
  await sql`
    insert into auth.mfa_factors (id, user_id, friendly_name, factor_type, status, created_at, updated_at, secret, phone)
    values (${randomUUID()}, ${userId}, ${`${type} ${randomUUID().slice(0, 4)}`}, ${type}, ${status}, now(), now(), ${secret}, ${type === 'phone' ? '15555550100' : null})`;
}

function run(extra: Partial<ImportOptions> = {}): Promise<ImportReport> {
  return runImport({ sourceUrl: src.url, targetUrl: target.url, apply: false, only: ['users'], batchSize: 10, out: () => {}, progress: quiet, ...extra });
}

beforeAll(async () => {
  [src, target] = await Promise.all([createRealSupabaseSource(), createTestDatabase()]);
  totpUser = await addGoTrueUser(src.sql, { email: 'tina@example.com', password: 'tina-password-12' });
  await addFactor(src.sql, totpUser, 'totp', totpSecret);
  // An unverified factor never counts and is not imported.
  await addFactor(src.sql, totpUser, 'totp', generateSecret(), 'unverified');
});
afterAll(async () => {
  await Promise.allSettled([src?.drop(), target?.drop()]);
});

describe('importing MFA factors', () => {
  it('refuses users whose factors offbase cannot carry (phone, encrypted secret), naming the kinds', async () => {
    const phoneUser = await addGoTrueUser(src.sql, { email: 'phil@example.com', password: 'phil-password-12' });
    await addFactor(src.sql, phoneUser, 'phone', null);
    const sealedUser = await addGoTrueUser(src.sql, { email: 'seal@example.com', password: 'seal-password-12' });
    await addFactor(src.sql, sealedUser, 'totp', JSON.stringify({ key_id: 'k1', algorithm: 'aes-gcm-hkdf', nonce: 'bm9uY2U=', data: 'ZGF0YQ==' }));
    try {
      await expect(run()).rejects.toThrow(/2 user\(s\) have verified MFA factors offbase cannot carry \(phone, totp \(encrypted secret\)\)/);
      await expect(run({ apply: true })).rejects.toThrow(/^--apply refused: 2 user\(s\)/);
      expect((await target.sql`select count(*)::int as n from users`)[0]!.n).toBe(0);
    } finally {
      await src.sql`delete from auth.mfa_factors where user_id in (${phoneUser}, ${sealedUser})`;
    }
  });

  it('imports verified TOTP factors sealed with offbase’s key; the user completes MFA with the same app', async () => {
    const dry = await run();
    expect(dry.plan.mfa).toEqual({ totp_factors: 1, uncarried_users: [] });
    const applied = await run({ apply: true });
    expect(applied.plan.mfa!.imported).toBe(1);
    const [row] = await target.sql<{ status: string; secret_ciphertext: string }[]>`select status, secret_ciphertext from mfa_factors where user_id = ${totpUser}`;
    expect(row!.status).toBe('verified');
    expect(row!.secret_ciphertext).not.toContain(totpSecret);
    // The importer's plain INSERT switched the user's MFA flag on (the trigger on mfa_factors).
    expect((await target.sql<{ mfa_enabled: boolean }[]>`select mfa_enabled from users where id = ${totpUser}`)[0]!.mfa_enabled).toBe(true);
    // Running it again changes nothing.
    expect((await run({ apply: true })).plan.mfa!.imported).toBe(0);

    const t = await buildTestApp({}, { testDb: target });
    try {
      const login = await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: 'tina@example.com', password: 'tina-password-12' } });
      expect(login.statusCode).toBe(200);
      const headers = { authorization: `Bearer ${login.json().access_token}` };
      expect((await t.app.inject({ method: 'GET', url: '/api/v1/documents', headers })).json().code).toBe('mfa_required');
      const factors = await t.app.inject({ method: 'GET', url: '/api/v1/auth/mfa/factors', headers });
      const factorId = factors.json().data[0].id as string;
      const ch = await t.app.inject({ method: 'POST', url: `/api/v1/auth/mfa/factors/${factorId}/challenge`, headers });
      const verified = await t.app.inject({
        method: 'POST',
        url: `/api/v1/auth/mfa/factors/${factorId}/verify`,
        headers,
        payload: { challenge_id: ch.json().id, code: await generate({ secret: totpSecret }) },
      });
      expect(verified.statusCode, verified.body).toBe(200);
      expect((await t.app.inject({ method: 'GET', url: '/api/v1/documents', headers: { authorization: `Bearer ${verified.json().access_token}` } })).statusCode).toBe(200);
    } finally {
      await t.close();
    }
  });
});
