import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import postgres from 'postgres';
import { loadConfig } from '../../src/config.js';
import { runMigrations } from '../../src/db/migrate.js';
import { startEmbeddedServer } from '../setup/server.js';
import { testEnv } from './app.js';
import type { TestDatabase } from './db.js';

export type OwnServer = Awaited<ReturnType<typeof startEmbeddedServer>>;

/**
 * A PostgreSQL of the test file's own with one migrated database, for tests that stop and
 * start the server; the shared test server is never touched.
 */
export async function ownPostgres(name = 'offbase_fault'): Promise<{ server: OwnServer; testDb: TestDatabase }> {
  const server = await startEmbeddedServer();
  const admin = postgres(server.adminUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database ${name}`);
  await admin.end();
  const url = server.adminUrl.replace(/\/postgres$/, `/${name}`);
  const config = loadConfig(testEnv(url));
  await runMigrations(config.db, url);
  const sql = postgres(url, { max: 2, onnotice: () => {} });
  // The whole server goes away with the test; drop() only closes the inspection pool.
  return { server, testDb: { name, url, appUrl: url, sql, drop: async () => void (await sql.end({ timeout: 1 })) } };
}

/** The postmaster's pid and its descendants' (backends, checkpointer, walwriter, ...). */
export function clusterPids(server: OwnServer): number[] {
  const postmaster = Number(readFileSync(path.join(server.dir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  // Never signal anything that is not this test's own cluster (the machine's shared
  // PostgreSQL included): the postmaster must have been started on this data directory.
  const cmdline = readFileSync(`/proc/${postmaster}/cmdline`, 'utf8').split('\0');
  if (!cmdline.includes(server.dir)) throw new Error(`pid ${postmaster} is not the postmaster of ${server.dir}`);
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // Field 4 of /proc/<pid>/stat, after the parenthesised command name, is the parent pid.
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {
      // the process exited meanwhile
    }
  }
  const pids: number[] = [];
  const visit = (pid: number) => {
    pids.push(pid);
    for (const child of children.get(pid) ?? []) visit(child);
  };
  visit(postmaster);
  return pids;
}

/**
 * Freezes the whole cluster with SIGSTOP (the postmaster first, so it forks nothing new):
 * the kernel still accepts TCP connections and ACKs, but nothing answers, as when a
 * database host hangs or a failover leaves a connection without a peer. Returns thaw(),
 * which sends SIGCONT and is safe to call more than once.
 */
export function freezeCluster(server: OwnServer): () => void {
  const pids = clusterPids(server);
  const stopped: number[] = [];
  const thaw = () => {
    while (stopped.length) {
      const pid = stopped.shift()!;
      try {
        process.kill(pid, 'SIGCONT');
      } catch {
        // already gone
      }
    }
  };
  try {
    for (const pid of pids) {
      process.kill(pid, 'SIGSTOP');
      stopped.push(pid);
    }
  } catch (err) {
    thaw();
    throw err;
  }
  return thaw;
}
