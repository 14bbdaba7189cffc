import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../../helpers/app.js';
import { login, registerUser, type RegisteredUser } from '../../helpers/auth.js';

// A login storm larger than the hashing queue can serve in PASSWORD_HASH_QUEUE_TIMEOUT_MS:
// the verifications that waited too long never run and answer 503 service_unavailable with
// Retry-After (never 401 for a right password, never 500); the rest log in; afterwards the
// queue is empty again and logins work.

let t: TestApp;
let users: RegisteredUser[];

beforeAll(async () => {
  // Hashes slow enough (tens of ms each) that 24 at once cannot all start within 100 ms.
  t = await buildTestApp({ PASSWORD_HASH_QUEUE_TIMEOUT_MS: '100', ARGON2_TIME_COST: '6', RATE_LIMIT_ENABLED: 'false' });
  users = [];
  for (let i = 0; i < 4; i++) users.push(await registerUser(t.app));
});
afterAll(() => t?.close());

describe('the password hashing queue', () => {
  it('sheds verifications that waited past the queue timeout with 503, and recovers', async () => {
    const storm = await Promise.all(Array.from({ length: 24 }, (_, i) => login(t.app, users[i % users.length]!.email, users[i % users.length]!.password)));
    const statuses = storm.map((r) => r.statusCode);
    expect(statuses.filter((s) => s !== 200 && s !== 503), JSON.stringify(statuses)).toEqual([]);
    expect(statuses.filter((s) => s === 200).length).toBeGreaterThan(0);
    const shed = storm.filter((r) => r.statusCode === 503);
    expect(shed.length, JSON.stringify(statuses)).toBeGreaterThan(0);
    for (const r of shed) {
      expect(r.json().code).toBe('service_unavailable');
      expect(r.headers['retry-after']).toBe('5');
    }

    // The shed verifications never ran: the queue drains and the next login is served.
    await new Promise((r) => setTimeout(r, 200));
    expect((await login(t.app, users[0]!.email, users[0]!.password)).statusCode).toBe(200);
    expect((await login(t.app, users[0]!.email, 'wrong-password-entirely')).statusCode).toBe(401);
  });
});
