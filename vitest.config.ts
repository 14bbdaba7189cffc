import { defineConfig } from 'vitest/config';

// Two projects: the API (real PostgreSQL, one cloned database per file) and infra/ (CDK
// synthesis and assertions, no database). `npm test` runs both; `--project api|infra` one.
export default defineConfig({
  test: {
    teardownTimeout: 30_000,
    projects: [
      {
        test: {
          name: 'api',
          include: ['test/**/*.test.ts', 'src/**/*.test.ts'],
          globalSetup: ['test/setup/global.ts'],
          pool: 'forks',
          // Each file gets its own database cloned from the migrated template, so files run in parallel.
          fileParallelism: true,
          testTimeout: 60_000,
          hookTimeout: 120_000,
          env: { NODE_ENV: 'test' },
        },
      },
      'infra/vitest.config.ts',
    ],
  },
});
