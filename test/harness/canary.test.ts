import { expect, test } from 'vitest';

// The harness's own proof that a failure reaches the exit code. Skipped in the normal suite;
// `.ci/run` runs this file with OFFBASE_CANARY=fail and with OFFBASE_CANARY=throw through
// `npm test` (same command, same global setup, same test database) and requires a non-zero exit.
const mode = process.env.OFFBASE_CANARY;

if (mode === 'throw') throw new Error('canary: this test file fails while loading, on purpose');

test.runIf(mode === 'fail')('canary: a failing assertion fails the run, on purpose', () => {
  expect(1).toBe(2);
});

test.runIf(mode === undefined)('canary is idle outside the harness check', () => {
  expect(mode).toBeUndefined();
});
