import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readJournal } from '../src/db/migrate.js';
import { createEmptyDatabase, type TestDatabase } from './helpers/db.js';
import { ROOT, spawnServer, stopServer, waitForStatus, type ServerProcess } from './helpers/process.js';
import { freePort } from './setup/server.js';

const journal = readJournal();
const dbs: TestDatabase[] = [];
const procs: ServerProcess[] = [];
afterAll(async () => {
  await Promise.all(procs.map(stopServer));
  await Promise.all(dbs.map((d) => d.drop()));
});

async function freshDb() {
  const db = await createEmptyDatabase();
  dbs.push(db);
  return db;
}
async function start(env: Record<string, string>, entry?: string) {
  const p = await spawnServer(env, entry);
  procs.push(p);
  return p;
}
const appliedMigrations = async (db: TestDatabase) =>
  db.sql<{ hash: string; n: number }[]>`select hash, count(*)::int as n from drizzle.__drizzle_migrations group by hash`;

describe('boot', () => {
  it('migrates a fresh database before listening; a second boot is a no-op', async () => {
    const db = await freshDb();
    const first = await start({ DATABASE_URL: db.url });
    await waitForStatus(first, '/health/ready');
    const ready: unknown = await (await fetch(`${first.baseUrl}/health/ready`)).json();
    expect(ready).toEqual({ status: 'ok', database: 'up', migrations: { applied: journal.length, latest: journal.at(-1)!.tag } });
    expect(await stopServer(first)).toBe(0);
    expect(first.output()).toContain(`applied ${journal.length} migration(s)`);

    const second = await start({ DATABASE_URL: db.url });
    await waitForStatus(second, '/health/ready');
    expect(second.output()).toContain('schema up to date');
    expect(await stopServer(second)).toBe(0);
    expect(await appliedMigrations(db)).toHaveLength(journal.length);
  }, 120_000);

  it('eight processes booting at once against one fresh database all become ready; each migration applied once', async () => {
    const db = await freshDb();
    const group = await Promise.all(Array.from({ length: 8 }, () => start({ DATABASE_URL: db.url, DB_POOL_MAX: '2' })));
    await Promise.all(group.map((p) => waitForStatus(p, '/health/ready', 200, 150_000)));
    const rows = await appliedMigrations(db);
    expect(rows).toHaveLength(journal.length);
    expect(rows.every((r) => r.n === 1)).toBe(true);
    const ran = group.filter((p) => p.output().includes(`applied ${journal.length} migration(s)`));
    expect(ran).toHaveLength(1);
    expect(await Promise.all(group.map(stopServer))).toEqual(Array(8).fill(0));
  }, 180_000);

  it('MIGRATE_ON_BOOT=false skips migrations', async () => {
    const db = await freshDb();
    const p = await start({ DATABASE_URL: db.url, MIGRATE_ON_BOOT: 'false' });
    await waitForStatus(p, '/health/ready');
    const ready = (await (await fetch(`${p.baseUrl}/health/ready`)).json()) as { migrations: unknown };
    expect(ready.migrations).toEqual({ applied: 0, latest: null });
    await stopServer(p);
  }, 120_000);

  it('a failing migration aborts boot with a non-zero exit and never listens', async () => {
    const db = await freshDb();
    // An object in the way makes the first migration fail half-way through.
    await db.sql`create table documents (id int)`;
    const p = await start({ DATABASE_URL: db.url });
    const code = await p.exited;
    expect(code).not.toBe(0);
    expect(p.output()).toContain('migration failed; not starting');
    expect(p.output()).not.toContain('Server listening');
    const rows = await db.sql<{ exists: boolean }[]>`select to_regclass('public.users') is not null as exists`;
    expect(rows[0]?.exists).toBe(false); // the migration's transaction rolled back
  });

  it('a configuration error exits 1 with one line naming the variable', async () => {
    const p = await start({ PORT: '3000', DB_POOL_MAX: 'many' });
    expect(await p.exited).toBe(1);
    expect(p.output().trim()).toBe('offbase: configuration error: DB_POOL_MAX must be an integer from 1 to 1000 (got "many")');
    const prod = await start({ NODE_ENV: 'production', PORT: '3000' });
    expect(await prod.exited).toBe(1);
    expect(prod.output()).toContain('DATABASE_URL (or DB_HOST, DB_NAME, DB_USER, DB_PASSWORD) is required when NODE_ENV=production');
  });
});

/** The database URL moved to a port where nothing listens yet. */
async function unreachable(url: string) {
  const moved = new URL(url);
  const target = { host: moved.hostname, port: Number(moved.port || 5432) };
  moved.port = String(await freePort());
  return { url: moved.toString(), port: Number(moved.port), target };
}

/** PostgreSQL "appearing" on a port: a TCP forwarder to the real server, started late. */
function forward(port: number, target: { host: string; port: number }): Promise<net.Server> {
  const server = net.createServer((client) => {
    const upstream = net.connect(target.port, target.host);
    client.pipe(upstream).pipe(client);
    const close = () => (client.destroy(), upstream.destroy());
    client.on('error', close);
    upstream.on('error', close);
  });
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve(server)));
}

async function until(check: () => boolean, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('booting while the database is away (a Multi-AZ failover)', () => {
  it('waits for the database within DB_BOOT_WAIT_S, then migrates and serves', async () => {
    const db = await freshDb();
    const away = await unreachable(db.url);
    const p = await start({ DATABASE_URL: away.url, DB_BOOT_WAIT_S: '60', DB_CONNECT_TIMEOUT_S: '2' });
    await until(() => p.output().includes('waiting for the database'), 30_000);
    await new Promise((r) => setTimeout(r, 2000));
    expect(p.child.exitCode).toBeNull();
    const forwarder = await forward(away.port, away.target);
    try {
      await waitForStatus(p, '/health/ready', 200, 60_000);
      expect(p.output()).toContain(`applied ${journal.length} migration(s)`);
      expect(p.output()).not.toContain(away.url);
      expect(await stopServer(p)).toBe(0);
    } finally {
      forwarder.close();
    }
  }, 120_000);

  it('gives up after DB_BOOT_WAIT_S with a non-zero exit, never listening', async () => {
    const db = await freshDb();
    const away = await unreachable(db.url);
    const startedAt = Date.now();
    const p = await start({ DATABASE_URL: away.url, DB_BOOT_WAIT_S: '2', DB_CONNECT_TIMEOUT_S: '1' });
    expect(await p.exited).toBe(1);
    expect(Date.now() - startedAt).toBeLessThan(30_000);
    expect(p.output()).toContain('database unreachable after 2 s (DB_BOOT_WAIT_S)');
    expect(p.output()).toContain('migration failed; not starting');
    expect(p.output()).not.toContain('Server listening');
  }, 60_000);

  it('an authentication error (unknown role) is not waited for', async () => {
    const db = await freshDb();
    const wrong = new URL(db.url);
    wrong.username = 'offbase_no_such_role';
    const startedAt = Date.now();
    const p = await start({ DATABASE_URL: wrong.toString(), DB_BOOT_WAIT_S: '60' });
    expect(await p.exited).toBe(1);
    expect(Date.now() - startedAt).toBeLessThan(20_000);
    expect(p.output()).not.toContain('waiting for the database');
  }, 60_000);
});

describe('the migrate command', () => {
  it('runs in production without JWT_SECRET', async () => {
    const db = await freshDb();
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/cli.ts'), 'migrate'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, NODE_ENV: 'production', DATABASE_URL: db.url },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(out).toContain(`"applied":${journal.length}`);
    expect(code).toBe(0);
  }, 60_000);
});

describe('graceful shutdown', () => {
  it('SIGTERM during a slow request lets it finish with 200, refuses new connections, exits 0', async () => {
    const db = await freshDb();
    const p = await start({ DATABASE_URL: db.url, SHUTDOWN_TIMEOUT_MS: '8000' }, 'test/fixtures/slow-server.ts');
    await waitForStatus(p, '/health/ready');
    const slow = fetch(`${p.baseUrl}/__test/slow?ms=1500`);
    await new Promise((r) => setTimeout(r, 300));
    const sentAt = Date.now();
    p.child.kill('SIGTERM');
    const res = await slow;
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ slept: 1500 });
    await new Promise((r) => setTimeout(r, 50));
    await expect(fetch(`${p.baseUrl}/health/live`, { signal: AbortSignal.timeout(2000) })).rejects.toThrow();
    expect(await p.exited).toBe(0);
    expect(Date.now() - sentAt).toBeLessThan(8000);
    expect(p.output()).toContain('shutdown complete');
  });
});
