import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config.js';
import { runMigrations } from '../../../src/db/migrate.js';
import { buildTestApp, testEnv, type TestApp } from '../../helpers/app.js';
import { startEmbeddedServer } from '../../setup/server.js';

// A PostgreSQL of this file's own, so it can be stopped without disturbing other files.
let server: Awaited<ReturnType<typeof startEmbeddedServer>>;
let t: TestApp;

beforeAll(async () => {
  server = await startEmbeddedServer();
  const admin = postgres(server.adminUrl, { max: 1 });
  await admin`create database offbase_health`;
  await admin.end();
  const url = server.adminUrl.replace(/\/postgres$/, '/offbase_health');
  const config = loadConfig(testEnv(url));
  await runMigrations(config.db, url);
  const dropNothing = { name: 'offbase_health', url, appUrl: url, sql: postgres(url, { max: 1 }), drop: async () => {} };
  t = await buildTestApp({ DB_CONNECT_TIMEOUT_S: '1' }, { testDb: dropNothing });
});
afterAll(async () => {
  await t?.close();
  await t?.testDb.sql.end();
  await server?.stop();
});

describe('health', () => {
  it('live answers without the database', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/health/live' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'ok' });
  });

  it('readiness goes 503 within 2 s while the database is stopped and back to 200 when it returns', async () => {
    expect((await t.app.inject({ method: 'GET', url: '/health/ready' })).statusCode).toBe(200);

    await server.pg.stop();
    const started = Date.now();
    const down = await t.app.inject({ method: 'GET', url: '/health/ready' });
    expect(Date.now() - started).toBeLessThan(2500);
    expect(down.statusCode).toBe(503);
    expect(down.json()).toEqual({ status: 'error', database: 'down' });
    expect((await t.app.inject({ method: 'GET', url: '/health/live' })).statusCode).toBe(200);

    await server.pg.start();
    const deadline = Date.now() + 10_000;
    let status = 0;
    while (Date.now() < deadline && status !== 200) {
      status = (await t.app.inject({ method: 'GET', url: '/health/ready' })).statusCode;
      if (status !== 200) await new Promise((r) => setTimeout(r, 200));
    }
    expect(status).toBe(200);
  });
});
