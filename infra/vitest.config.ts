import { defineConfig } from 'vitest/config';

// Synthesis is CPU-bound (a few seconds per stack): no database, no global setup.
export default defineConfig({
  test: {
    name: 'infra',
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
