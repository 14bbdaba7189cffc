import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/app.js';
import type { Resource } from '../../src/resources/index.js';
import { loadConfig, type Config } from '../../src/config.js';
import { createDatabase, type Database } from '../../src/db/client.js';
import { createLogger } from '../../src/logger.js';
import { createTestDatabase, type TestDatabase } from './db.js';

export const TEST_JWT_SECRET = 'test-jwt-secret-that-is-long-enough-0123456789';

export interface TestApp {
  app: FastifyInstance;
  config: Config;
  database: Database;
  testDb: TestDatabase;
  /** Every log line the app wrote, as raw JSON text: assert secrets never appear here. */
  logs: string[];
  close(): Promise<void>;
}

/** The environment tests build their config from; override per test. */
export function testEnv(url: string, env: Record<string, string> = {}): Record<string, string> {
  return {
    NODE_ENV: 'test',
    DATABASE_URL: url,
    JWT_SECRET: TEST_JWT_SECRET,
    LOG_LEVEL: 'info',
    // Cheap hashing keeps suites fast; production defaults are asserted in config tests.
    ARGON2_MEMORY_KIB: '8192',
    ARGON2_TIME_COST: '1',
    ...env,
  };
}

/**
 * The real app on its own freshly migrated database. Use `app.inject` for requests, or
 * `app.listen({ port: 0 })` when a real HTTP client (supabase-js, autocannon) is needed.
 */
export async function buildTestApp(
  env: Record<string, string> = {},
  options: {
    testDb?: TestDatabase;
    extend?: (app: FastifyInstance) => void | Promise<void>;
    /** Connect as the database owner instead of the app role (tests of owner-only operations). */
    asOwner?: boolean;
    /** Extra resource declarations to serve (buildApp's `resources` option). */
    resources?: Resource[];
  } = {},
): Promise<TestApp> {
  const testDb = options.testDb ?? (await createTestDatabase());
  const url = options.asOwner ? testDb.url : testDb.appUrl;
  const config = loadConfig(testEnv(url, env));
  const database = await createDatabase(config.db, url);
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      logs.push(String(chunk));
      cb();
    },
  });
  const app = await buildApp(config, { database }, { logger: createLogger(config, sink), ...(options.resources ? { resources: options.resources } : {}) });
  await options.extend?.(app);
  await app.ready();
  return {
    app,
    config,
    database,
    testDb,
    logs,
    async close() {
      await app.close();
      await database.close();
      if (!options.testDb) await testDb.drop();
    },
  };
}
