// npm run client:generate: TypeScript types for the native API (/api/v1) from the OpenAPI
// document the app serves at /openapi.json, written by openapi-typescript to
// client/offbase-api.d.ts for frontends using openapi-fetch. `--check` (CI) fails when the
// committed file differs from what this would write.
//
// The app is built in-process on a fixed configuration, so the output depends on the code
// only. No database is needed: postgres.js connects on the first query, and building the
// document runs none (the pool below points at a port nothing listens on, and is never used).
import path from 'node:path';
import openapiTS, { astToString, type OpenAPI3 } from 'openapi-typescript';
import { buildApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { createDatabase } from '../src/db/client.js';
import { createLogger } from '../src/logger.js';
import { writeOrCheck } from './lib/generated-file.js';

const root = path.resolve(import.meta.dirname, '..');
const target = path.join(root, 'client/offbase-api.d.ts');
const NATIVE_PREFIX = '/api/v1/';

const HEADER = `// The offbase native API (/api/v1) as TypeScript types, for openapi-fetch (see the README,
// "Typed client for frontends"). Generated from the OpenAPI document by
// \`npm run client:generate\`; do not edit by hand (CI runs \`npm run client:check\`).

`;

async function openapiDocument(): Promise<OpenAPI3> {
  const config = loadConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    DATABASE_URL: 'postgres://offbase@127.0.0.1:1/offbase',
    JWT_SECRET: 'client-generate-only-never-signs-a-token-000000',
    // The warm-up hash at ready time, made cheap.
    ARGON2_MEMORY_KIB: '8192',
    ARGON2_TIME_COST: '1',
  });
  const database = await createDatabase(config.db, config.db.url!);
  const app = await buildApp(config, { database }, { logger: createLogger(config) });
  try {
    await app.ready();
    return structuredClone(app.swagger()) as unknown as OpenAPI3;
  } finally {
    await app.close();
    await database.close(0);
  }
}

async function renderClientTypes(): Promise<string> {
  const document = await openapiDocument();
  // The compatibility surfaces (/auth/v1, /rest/v1) have supabase-js as their client, and
  // health and metrics are for operators: frontends get the native API.
  document.paths = Object.fromEntries(Object.entries(document.paths ?? {}).filter(([p]) => p.startsWith(NATIVE_PREFIX)));
  return HEADER + astToString(await openapiTS(document));
}

writeOrCheck(
  {
    target,
    expected: await renderClientTypes(),
    label: 'client check',
    command: 'npm run client:generate',
    staleBecause: "does not match the API's OpenAPI document",
  },
  'client/offbase-api.d.ts matches the OpenAPI document',
);
