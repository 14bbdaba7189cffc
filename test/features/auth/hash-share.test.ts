import { afterEach, describe, expect, it } from 'vitest';
import { shareCoresWithRequests } from '../../../src/features/auth/hash-share.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// Keeps the event loop working for `ms`, yielding to timers between slices of 5 ms.
async function keepLoopBusy(ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const slice = Date.now() + 5;
    while (Date.now() < slice) {
      // busy on purpose
    }
    await new Promise((resolve) => setImmediate(resolve));
  }
}

describe('hashing shares the cores with requests', () => {
  let stop: (() => void) | undefined;
  afterEach(() => stop?.());

  it('keeps to cores - 1 while the event loop is busy and uses every core while it is idle', async () => {
    const limit = { concurrency: 4 };
    stop = shareCoresWithRequests(limit, 4, { everyMs: 40 });
    await keepLoopBusy(200);
    expect(limit.concurrency).toBe(3);
    await sleep(200);
    expect(limit.concurrency).toBe(4);
    await keepLoopBusy(200);
    expect(limit.concurrency).toBe(3);
  });

  it('never goes below one hash at a time', async () => {
    const limit = { concurrency: 1 };
    stop = shareCoresWithRequests(limit, 1, { everyMs: 40 });
    await keepLoopBusy(150);
    expect(limit.concurrency).toBe(1);
  });

  it('stops changing the limit once stopped', async () => {
    const limit = { concurrency: 2 };
    shareCoresWithRequests(limit, 2, { everyMs: 40 })();
    await keepLoopBusy(150);
    expect(limit.concurrency).toBe(2);
  });
});
