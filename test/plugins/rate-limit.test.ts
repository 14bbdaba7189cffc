import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { STRONG_PASSWORD, login, randomIp, registerUser } from '../helpers/auth.js';

// Low limits so each rule trips in a few requests. Two apps on one database stand in for two
// API tasks behind a load balancer.
const LIMITS = {
  RATE_LIMIT_WINDOW_S: '60',
  RATE_LIMIT_LOGIN_PER_IP: '4',
  RATE_LIMIT_LOGIN_PER_EMAIL: '3',
  RATE_LIMIT_REGISTER_PER_IP: '2',
  RATE_LIMIT_REFRESH_PER_IP: '2',
  RATE_LIMIT_FORGOT_PER_IP: '3',
  RATE_LIMIT_FORGOT_PER_EMAIL: '2',
  RATE_LIMIT_VERIFY_PER_IP: '2',
};
let a: TestApp;
let b: TestApp;
beforeAll(async () => {
  a = await buildTestApp(LIMITS);
  b = await buildTestApp(LIMITS, { testDb: a.testDb });
});
afterAll(async () => {
  await b?.close();
  await a?.close();
});

const post = (t: TestApp, url: string, payload: object, remoteAddress: string) =>
  t.app.inject({ method: 'POST', url: `/api/v1/auth${url}`, payload, remoteAddress });

function expectLimited(res: Awaited<ReturnType<typeof post>>) {
  expect(res.statusCode).toBe(429);
  expect(res.json().code).toBe('rate_limited');
  const retry = Number(res.headers['retry-after']);
  expect(retry).toBeGreaterThanOrEqual(1);
  expect(retry).toBeLessThanOrEqual(60);
  expect(res.headers['ratelimit-remaining']).toBe('0');
}

describe('rate limits (429 rate_limited with Retry-After)', () => {
  it('login per email, counted across two API tasks', async () => {
    const u = await registerUser(a.app);
    const results = [];
    for (const t of [a, b, a]) results.push(await login(t.app, u.email, 'wrong-password-xyz', randomIp()));
    for (const r of results) expect(r.statusCode).toBe(401);
    const limited = await login(b.app, u.email, u.password, randomIp());
    expectLimited(limited);
    // Another address is not affected by this one's budget.
    expect((await login(b.app, `other-${u.email}`, 'whatever-password', randomIp())).statusCode).toBe(401);
  });

  it('login per IP, across different emails', async () => {
    const ip = randomIp();
    for (let i = 0; i < 4; i++) expect((await login(i % 2 ? a.app : b.app, `ip-${i}@example.com`, 'whatever-password', ip)).statusCode).toBe(401);
    expectLimited(await login(a.app, 'ip-5@example.com', 'whatever-password', ip));
  });

  it('register per IP', async () => {
    const ip = randomIp();
    expect((await post(a, '/register', { email: 'r1@example.com', password: STRONG_PASSWORD }, ip)).statusCode).toBe(201);
    expect((await post(b, '/register', { email: 'r2@example.com', password: STRONG_PASSWORD }, ip)).statusCode).toBe(201);
    expectLimited(await post(a, '/register', { email: 'r3@example.com', password: STRONG_PASSWORD }, ip));
  });

  it('refresh per IP', async () => {
    const ip = randomIp();
    const u = await registerUser(a.app);
    const first = await post(a, '/refresh', { refresh_token: u.refreshToken }, ip);
    expect(first.statusCode).toBe(200);
    expect((await post(b, '/refresh', { refresh_token: first.json().refresh_token }, ip)).statusCode).toBe(200);
    expectLimited(await post(a, '/refresh', { refresh_token: 'anything' }, ip));
  });

  it('forgot per email and per IP; verify per IP', async () => {
    const u = await registerUser(a.app);
    expect((await post(a, '/password/forgot', { email: u.email }, randomIp())).statusCode).toBe(202);
    expect((await post(b, '/password/forgot', { email: u.email }, randomIp())).statusCode).toBe(202);
    expectLimited(await post(a, '/password/forgot', { email: u.email }, randomIp()));
    const ip = randomIp();
    for (let i = 0; i < 3; i++) expect((await post(a, '/password/forgot', { email: `f${i}@example.com` }, ip)).statusCode).toBe(202);
    expectLimited(await post(b, '/password/forgot', { email: 'f9@example.com' }, ip));
    const vip = randomIp();
    for (let i = 0; i < 2; i++) expect((await post(a, '/email/verify', { token: `bad-${i}` }, vip)).statusCode).toBe(400);
    expectLimited(await post(a, '/email/verify', { token: 'bad-3' }, vip));
  });

  it('a new window starts when the old one ends; stored keys do not reveal the email or address', async () => {
    const u = await registerUser(a.app);
    for (let i = 0; i < 3; i++) await login(a.app, u.email, 'wrong-password-xyz', randomIp());
    expectLimited(await login(a.app, u.email, u.password, randomIp()));
    await a.testDb.sql`update rate_limits set reset_at = now() - interval '1 second' where key like 'login:email:%'`;
    expect((await login(a.app, u.email, u.password, randomIp())).statusCode).toBe(200);
    const keys = await a.testDb.sql`select key from rate_limits`;
    for (const { key } of keys) {
      expect(key).not.toContain('@');
      expect(key).not.toMatch(/10\.\d+\.\d+\.\d+/);
    }
  });

  it('RATE_LIMIT_ENABLED=false turns every limit off', async () => {
    const off = await buildTestApp({ ...LIMITS, RATE_LIMIT_ENABLED: 'false' }, { testDb: a.testDb });
    try {
      const ip = randomIp();
      for (let i = 0; i < 6; i++) expect((await login(off.app, 'off@example.com', 'whatever-password', ip)).statusCode).toBe(401);
    } finally {
      await off.close();
    }
  });
});

describe('behind a proxy (TRUST_PROXY)', () => {
  const ALB = '10.0.3.17';
  // What a client writes into X-Forwarded-For to dodge its limit or forge its audit trail.
  const forged = (i: number) => `198.51.100.${i}`;

  async function loginsFrom(t: TestApp, remoteAddress: string, xff: (i: number) => string, n: number, tag: string) {
    const results = [];
    for (let i = 0; i < n; i++) {
      results.push(await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', remoteAddress, headers: { 'x-forwarded-for': xff(i) }, payload: { email: `${tag}-${i}@example.com`, password: 'whatever-password' } }));
    }
    return results;
  }
  const auditIps = async (t: TestApp, tag: string) =>
    (await t.testDb.sql<{ ip: string }[]>`select ip from audit_logs where action = 'auth.login_failed' and changes->>'email' like ${`${tag}-%`}`).map((r) => r.ip);

  // Each case has its own client addresses: the counters are shared through the database.
  const cases = [
    ['one hop', '1', '203.0.113.7', '203.0.113.8'],
    ['the proxy subnet', '10.0.0.0/16', '203.0.113.9', '203.0.113.10'],
  ] as const;
  for (const [name, value, CLIENT, NEIGHBOUR] of cases) {
    it(`${name}: a left-most X-Forwarded-For entry the client wrote changes neither its limit nor its audit rows`, async () => {
      const t = await buildTestApp({ ...LIMITS, TRUST_PROXY: value }, { testDb: a.testDb });
      try {
        const tag = `xff-${value.replace(/\W/g, '')}`;
        // The ALB appends the address it saw: the client controls everything to the left of it.
        const results = await loginsFrom(t, ALB, (i) => `${forged(i)}, ${CLIENT}`, 5, tag);
        expect(results.slice(0, 4).map((r) => r.statusCode)).toEqual([401, 401, 401, 401]);
        expectLimited(results[4]!);
        expect(await auditIps(t, tag)).toEqual([CLIENT, CLIENT, CLIENT, CLIENT]);
        // Another client behind the same ALB has its own budget.
        const other = await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', remoteAddress: ALB, headers: { 'x-forwarded-for': `${forged(99)}, ${NEIGHBOUR}` }, payload: { email: `${tag}-other@example.com`, password: 'whatever-password' } });
        expect(other.statusCode).toBe(401);
      } finally {
        await t.close();
      }
    });
  }

  it('a client connecting directly (not through the proxy) cannot set its IP at all', async () => {
    const t = await buildTestApp({ ...LIMITS, TRUST_PROXY: '1' }, { testDb: a.testDb });
    try {
      const direct = '192.0.2.44';
      const results = await loginsFrom(t, direct, (i) => forged(i), 5, 'direct');
      expectLimited(results[4]!);
      expect(await auditIps(t, 'direct')).toEqual([direct, direct, direct, direct]);
    } finally {
      await t.close();
    }
  });
});
