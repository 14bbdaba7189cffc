import { execFile } from 'node:child_process';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDist } from '../scripts/build.js';
import { imageRuntimeEnv } from '../bench/lib/processes.js';
import { TEST_JWT_SECRET } from './helpers/app.js';
import { STRONG_PASSWORD } from './helpers/auth.js';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';
import { ROOT, spawnServer, stopServer, waitForStatus, type ServerProcess } from './helpers/process.js';

// The V8 heap limit the image sets (the Dockerfile's runtime NODE_OPTIONS): node must accept it
// (a flag NODE_OPTIONS does not allow stops node at start), it must be the limit V8 runs with,
// and it must hold the largest bodies the API takes, many at once: at the limit V8 aborts the
// process ("JavaScript heap out of memory"), which a too-small value would make a load pattern.

const run = promisify(execFile);
const image = imageRuntimeEnv(ROOT);
const limitMb = Number(/--max-old-space-size=(\d+)/.exec(image.NODE_OPTIONS ?? '')?.[1]);
// Bundled as the image runs it, inside the repository so `node_modules/` (argon2) resolves.
const distDir = path.join(ROOT, '.data/test-image-memory/dist');
let db: TestDatabase;

beforeAll(async () => {
  [db] = await Promise.all([createTestDatabase(), buildDist(distDir)]);
}, 120_000);

afterAll(async () => {
  await db?.drop();
  rmSync(path.dirname(distDir), { recursive: true, force: true });
});

async function startApi(nodeOptions: string): Promise<ServerProcess> {
  const server = await spawnServer(
    {
      ...image,
      NODE_OPTIONS: nodeOptions,
      NODE_ENV: 'production',
      DATABASE_URL: db.url,
      MIGRATE_ON_BOOT: 'false',
      JWT_SECRET: TEST_JWT_SECRET,
      MFA_ENCRYPTION_KEY: TEST_JWT_SECRET,
      RATE_LIMIT_ENABLED: 'false',
      LOG_LEVEL: 'warn',
      // The inserts of 150 MB of text share this machine's cores: only memory may fail here.
      DB_STATEMENT_TIMEOUT_MS: '0',
      REQUEST_TIMEOUT_MS: '300000',
      DB_POOL_MAX: '16',
    },
    path.join(distDir, 'server.js'),
    { cwd: ROOT },
  );
  await waitForStatus(server, '/health/ready', 200, 60_000);
  return server;
}

const TEXT = 'lorem ipsum dolor sit amet consectetur '.repeat(25_000); // ~1 MB, under the 1 MiB cap
let key = 0;

/** `n` documents of ~1 MB text in one batch body (15 is near the batch route's 16 MiB body limit). */
const batchBody = (n = 15) => JSON.stringify({ documents: Array.from({ length: n }, () => ({ title: `big ${key}`, s3_bucket: 'memory', s3_key: `big-${key++}`, content_text: TEXT })) });

// An export holds a pooled connection while it streams, so a task runs one per user and a
// quarter of DB_POOL_MAX at once (src/features/auth/export.ts): four exports at once are four
// users on a pool of 16. Each account has 16 documents of ~1 MB, one full FETCH batch of the
// export's documents section, the most an export holds in memory at a time.
const EXPORTERS = 4;
const DOCS_EACH = 16;

async function signUp(server: ServerProcess, email: string): Promise<Record<string, string>> {
  const registered = await fetch(`${server.baseUrl}/api/v1/auth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password: STRONG_PASSWORD }),
  });
  expect(registered.status).toBe(201);
  const { access_token: token } = (await registered.json()) as { access_token: string };
  return { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
}

/** Four users with 16 MB of documents each, then 8 batches of 15 MB and their 4 exports at once. */
async function largestBodiesAtOnce(server: ServerProcess, email: string) {
  const users = await Promise.all(Array.from({ length: EXPORTERS }, (_, i) => signUp(server, `${i}-${email}`)));
  for (const headers of users) {
    expect((await fetch(`${server.baseUrl}/api/v1/documents/batch`, { method: 'POST', headers, body: batchBody(DOCS_EACH) })).status).toBe(201);
  }
  // A response cut off mid-body (the process died) is an outcome too, not a thrown test.
  const outcome = (p: Promise<Response>, read: (r: Response) => Promise<string>) => p.then(read).catch((err: Error) => `failed: ${err.message}`);
  return Promise.all([
    ...Array.from({ length: 8 }, () => outcome(fetch(`${server.baseUrl}/api/v1/documents/batch`, { method: 'POST', headers: users[0]!, body: batchBody() }), async (r) => `${r.status}`)),
    ...users.map((headers) =>
      outcome(fetch(`${server.baseUrl}/api/v1/auth/me/export`, { headers: { authorization: headers.authorization! } }), async (r) => {
        const body = (await r.json()) as { documents: unknown[] };
        return `${r.status}: ${body.documents.length >= DOCS_EACH ? `≥ ${DOCS_EACH}` : body.documents.length} documents`;
      }),
    ),
  ]);
}

describe("the image's V8 heap limit (Dockerfile NODE_OPTIONS)", () => {
  it('is set, accepted by node in NODE_OPTIONS, and the limit V8 runs with', async () => {
    expect(limitMb).toBeGreaterThan(0);
    const { stdout } = await run(process.execPath, ['-e', 'console.log(require("v8").getHeapStatistics().heap_size_limit)'], {
      env: { PATH: process.env.PATH, NODE_OPTIONS: image.NODE_OPTIONS },
    });
    // heap_size_limit is the old generation's limit plus the young generation's.
    const mb = Number(stdout) / 1048576;
    expect(mb).toBeGreaterThanOrEqual(limitMb);
    expect(mb).toBeLessThan(limitMb + 128);
  });

  it('holds 8 batches of 15 MB and 4 exports of 16 MB accounts at once: all answered, the process stays up', async () => {
    const server = await startApi(image.NODE_OPTIONS!);
    try {
      const results = await largestBodiesAtOnce(server, 'heap-limit@example.com');
      expect(results).toEqual([...Array(8).fill('201'), ...Array(EXPORTERS).fill(`200: ≥ ${DOCS_EACH} documents`)]);
      expect((await fetch(`${server.baseUrl}/health/live`)).status).toBe(200);
      expect(server.child.exitCode).toBeNull();
    } finally {
      await stopServer(server);
    }
  }, 300_000);

  it('the same load against a quarter of that limit: V8 aborts the process (what the limit being reached looks like)', async () => {
    const server = await startApi(`--max-old-space-size=${Math.floor(limitMb / 4)}`);
    try {
      // How many bodies are in memory at once depends on how fast the uploads arrive, which the
      // rest of the suite can slow (once, under the whole suite, one round was not enough): the
      // same load again, at most three rounds, until the process goes. A dead process fails a
      // round's requests, which is not this test's failure.
      for (let round = 0; round < 3 && server.child.exitCode === null; round++) {
        await largestBodiesAtOnce(server, `heap-quarter-${round}@example.com`).catch(() => undefined);
      }
      const exited = await Promise.race([server.exited, new Promise<'still running'>((r) => setTimeout(() => r('still running'), 30_000))]);
      expect(exited).not.toBe('still running');
      expect(exited).not.toBe(0);
      expect(server.output()).toContain('JavaScript heap out of memory');
    } finally {
      await stopServer(server);
    }
  }, 300_000);
});
