import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import type { TestProject } from 'vitest/node';
import { loadConfig } from '../../src/config.js';
import { runMigrations } from '../../src/db/migrate.js';
import { startTestServer } from './server.js';

declare module 'vitest' {
  export interface ProvidedContext {
    adminUrl: string;
    templateDb: string;
    /** The role the app connects as in tests: owns nothing, holds only what migrations grant it. */
    appRole: string;
    appPassword: string;
  }
}

export function databaseUrl(adminUrl: string, name: string): string {
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

// Once per run: start (or find) a server, migrate a template database with the same
// migrations production applies, and hand its name to every test file.
export default async function setup(project: TestProject) {
  const server = await startTestServer();
  const id = randomBytes(4).toString('hex');
  const templateDb = `offbase_tpl_${id}`;
  // The API runs as production runs it (docs/deploy-aws.md): as a role that owns nothing and
  // has only the rights migrations grant it, so a missing grant fails a test. Roles are
  // cluster-wide, hence the run's suffix; clones of the template carry the grants.
  const appRole = `offbase_app_${id}`;
  const appPassword = randomBytes(18).toString('base64url');
  const admin = postgres(server.adminUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create role ${appRole} login password '${appPassword}'`);
  await admin.unsafe(`create database ${templateDb}`);
  const config = loadConfig({ NODE_ENV: 'test', DATABASE_URL: databaseUrl(server.adminUrl, templateDb), DB_APP_ROLE: appRole });
  await runMigrations(config.db, config.db.url!);
  process.stderr.write(`test database: ${server.source}, template ${templateDb}, app role ${appRole}\n`);

  project.provide('adminUrl', server.adminUrl);
  project.provide('templateDb', templateDb);
  project.provide('appRole', appRole);
  project.provide('appPassword', appPassword);

  return async () => {
    // Clones are dropped by their files; this sweeps any a crashed file left behind.
    const prefix = templateDb.replace('offbase_tpl_', 'offbase_t_');
    const leftovers = await admin<{ datname: string }[]>`select datname from pg_database where datname like ${`${prefix}%`}`;
    for (const { datname } of leftovers) await admin.unsafe(`drop database if exists "${datname}" with (force)`);
    await admin.unsafe(`drop database if exists ${templateDb} with (force)`);
    await admin.unsafe(`drop role if exists ${appRole}`);
    await admin.end();
    await server.stop();
  };
}
