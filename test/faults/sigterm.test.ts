import { request } from 'node:http';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_JWT_SECRET } from '../helpers/app.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { spawnServer, stopServer, waitForStatus, type ServerProcess } from '../helpers/process.js';
import { mintSession } from '../helpers/tokens.js';

// SIGTERM while the API is busy: everything accepted before the signal completes, new
// connections are refused, and the process exits 0 within SHUTDOWN_TIMEOUT_MS.
// (A single slow request through shutdown is covered in boot.test.ts; eight cold boots too.)

const SHUTDOWN_TIMEOUT_MS = 8000;
let db: TestDatabase;
let p: ServerProcess;
let token: string;

beforeAll(async () => {
  db = await createTestDatabase();
  const [user] = await db.sql<{ id: string; email: string }[]>`insert into users (email) values ('sigterm@example.com') returning id, email`;
  token = (await mintSession(db.sql, user!, TEST_JWT_SECRET)).token;
  p = await spawnServer({ DATABASE_URL: db.url, SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS), DB_POOL_MAX: '4' }, 'test/fixtures/slow-server.ts');
  await waitForStatus(p, '/health/ready');
}, 120_000);
afterAll(async () => {
  if (p) await stopServer(p);
  await db?.drop();
});

/** One request on its own connection (no keep-alive pool), resolving with status and body. */
function send(method: string, path: string, body?: unknown): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = request(
      { host: '127.0.0.1', port: p.port, method, path, agent: false, timeout: 15_000, headers: { authorization: `Bearer ${token}`, ...(payload ? { 'content-type': 'application/json' } : {}) } },
      (res) => {
        let text = '';
        res.on('data', (d) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode!, body: text }));
      },
    );
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.end(payload);
  });
}

describe('SIGTERM under load', () => {
  it('completes in-flight requests, refuses new connections, exits 0 in time', async () => {
    // 12 slow requests on a pool of 4 (so some still wait for a connection at the signal),
    // and 12 creates.
    const keys = Array.from({ length: 12 }, () => `sigterm/${randomUUID()}`);
    const inFlight = [
      ...Array.from({ length: 12 }, () => send('GET', '/__test/slow?ms=1000')),
      ...keys.map((key) => send('POST', '/api/v1/documents', { title: 'In flight at SIGTERM', s3_bucket: 'sigterm', s3_key: key })),
    ].map((r) => r.catch((err: Error) => ({ status: -1, body: err.message })));
    // Long enough for the server to have read every request (3 s of sleeps queue on 4 connections).
    await new Promise((r) => setTimeout(r, 800));
    const signalledAt = Date.now();
    p.child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 100));
    await expect(send('GET', '/health/live')).rejects.toThrow(/ECONNREFUSED/);

    const results = await Promise.all(inFlight);
    expect(results.map((r) => r.status)).toEqual([...Array(12).fill(200), ...Array(12).fill(201)]);
    expect(await p.exited).toBe(0);
    expect(Date.now() - signalledAt).toBeLessThan(SHUTDOWN_TIMEOUT_MS);
    const stored = await db.sql<{ n: number }[]>`select count(*)::int as n from documents where s3_bucket = 'sigterm' and s3_key = any(${keys})`;
    expect(stored[0]!.n).toBe(12);
  }, 60_000);
});
