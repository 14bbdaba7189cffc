import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from '../setup/server.js';

export interface PgBouncer {
  port: number;
  /** The same database reached through PgBouncer (transaction pooling). */
  url(directUrl: string): string;
  output(): string;
  stop(): Promise<void>;
}

/** The pgbouncer binary (Debian installs it in /usr/sbin), or null. */
export function findPgBouncer(): string | null {
  const which = spawnSync('sh', ['-c', 'command -v pgbouncer'], { encoding: 'utf8' });
  if (which.status === 0 && which.stdout.trim()) return which.stdout.trim();
  for (const candidate of ['/usr/sbin/pgbouncer', '/usr/bin/pgbouncer', '/usr/local/bin/pgbouncer']) {
    if (existsSync(candidate)) return candidate;
  }
  return null;
}

function waitForPort(port: number, timeoutMs: number, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      if (child.exitCode !== null) return reject(new Error(`pgbouncer exited (${child.exitCode}):\n${output()}`));
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve();
      });
      socket.once('error', () => {
        socket.destroy();
        if (Date.now() > deadline) reject(new Error(`pgbouncer did not listen on ${port}:\n${output()}`));
        else setTimeout(attempt, 50);
      });
    };
    attempt();
  });
}

/**
 * PgBouncer in transaction pooling mode in front of the test server, on loopback. Clients
 * need no password (auth_type=any); PgBouncer logs in to PostgreSQL as the admin user.
 * Few server connections per database, so client connections really are multiplexed.
 */
export async function startPgBouncer(binary: string, adminUrl: string, poolSize = 3): Promise<PgBouncer> {
  const server = new URL(adminUrl);
  const port = await freePort();
  const dir = mkdtempSync(path.join(tmpdir(), 'offbase-pgbouncer-'));
  const password = server.password ? ` password=${decodeURIComponent(server.password)}` : '';
  const ini = `[databases]
* = host=${server.hostname} port=${server.port || 5432} user=${decodeURIComponent(server.username)}${password}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = ${port}
unix_socket_dir =
auth_type = any
admin_users = ${decodeURIComponent(server.username) || 'postgres'}
pool_mode = transaction
default_pool_size = ${poolSize}
max_client_conn = 500
server_reset_query =
; PgBouncer refuses startup parameters it does not know; the pool sends statement_timeout.
ignore_startup_parameters = extra_float_digits,statement_timeout
`;
  const config = path.join(dir, 'pgbouncer.ini');
  writeFileSync(config, ini);
  // pgbouncer refuses to run as root; as root it drops to the postgres user (-u), which
  // must be able to read the configuration.
  chmodSync(dir, 0o755);
  chmodSync(config, 0o644);
  const args = process.getuid?.() === 0 ? ['-u', 'postgres', config] : [config];
  let out = '';
  const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await waitForPort(port, 10_000, child, () => out);
  return {
    port,
    url(directUrl) {
      const u = new URL(directUrl);
      u.hostname = '127.0.0.1';
      u.port = String(port);
      u.password = '';
      return u.toString();
    },
    output: () => out,
    async stop() {
      if (child.exitCode === null) child.kill('SIGINT');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
