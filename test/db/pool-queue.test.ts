import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createDatabase } from '../../src/db/client.js';
import { testEnv } from '../helpers/app.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';

// scripts/patch-postgres.mjs, edit 3: postgres.js's queues (queue.js) keep a hole for every
// element shifted off and the pool's moves search them from the start, so a saturated pool
// used to slow down with every query it ran. These tests hold the installed copy to the edit:
// the queue's own behaviour, and the pool's queues under saturation against a real database.

type Queue<T> = { readonly length: number; push(x: T): T; shift(): T | undefined; remove(x: T): T | null };
// The package's root, from its CommonJS entry (cjs/src/index.js): its exports hide every other path.
const postgresDir = path.resolve(path.dirname(createRequire(import.meta.url).resolve('postgres')), '../..');
const loadQueue = async (): Promise<(initial?: unknown[]) => Queue<unknown>> =>
  ((await import(pathToFileURL(path.join(postgresDir, 'src/queue.js')).href)) as { default: (initial?: unknown[]) => Queue<unknown> }).default;

/** Runs `fn` while recording the length of every array queue.js searches; restores indexOf after. */
async function queueSearches<T>(fn: () => Promise<T>): Promise<{ result: T; longest: number }> {
  const original = Array.prototype.indexOf;
  let longest = 0;
  Array.prototype.indexOf = function (this: unknown[], ...args: [unknown, number?]) {
    // Only long arrays are worth the stack walk; a queue of the edited copy never gets there.
    if (this.length > 4096 && new Error().stack?.includes(`${path.sep}queue.js`)) longest = Math.max(longest, this.length);
    return original.apply(this, args);
  } as typeof original;
  try {
    return { result: await fn(), longest };
  } finally {
    Array.prototype.indexOf = original;
  }
}

describe("postgres.js's pool queues (patched)", () => {
  let testDb: TestDatabase;
  beforeAll(async () => {
    testDb = await createTestDatabase();
  });
  afterAll(async () => {
    await testDb.drop();
  });

  it('a queue stays first-in first-out, with remove, across the compaction of its holes', async () => {
    const Queue = await loadQueue();
    const q = Queue([1, 2]);
    const model: number[] = [1, 2];
    let next = 3;
    // A rotation like the pool's (shift one, push it back, sometimes take one out or add one),
    // long enough to compact many times; the model is a plain array.
    for (let step = 0; step < 20_000; step++) {
      if (step % 7 === 0) {
        q.push(next);
        model.push(next++);
      }
      if (step % 11 === 0 && model.length > 1) {
        const victim = model[Math.floor(model.length / 2)]!;
        expect(q.remove(victim)).toBe(victim);
        model.splice(model.indexOf(victim), 1);
      }
      const out = q.shift();
      expect(out).toBe(model.shift());
      expect(q.remove(out)).toBeNull(); // what the pool's move() does with a shifted connection
      q.push(out);
      model.push(out as number);
      expect(q.length).toBe(model.length);
    }
    const rest: unknown[] = [];
    while (q.length) rest.push(q.shift());
    expect(rest).toEqual(model);
  });

  it('a saturated pool (32 callers, 4 connections, 20,000 queries) never searches a long queue', async () => {
    const database = await createDatabase(loadConfig(testEnv(testDb.appUrl, { DB_POOL_MAX: '4' })).db, testDb.appUrl);
    try {
      let done = 0;
      const { result, longest } = await queueSearches(async () => {
        const callers = Array.from({ length: 32 }, async () => {
          let sum = 0;
          while (done < 20_000) {
            done++;
            const [row] = await database.db.execute<{ one: number }>(sql`select 1 as one`);
            sum += row!.one;
          }
          return sum;
        });
        return (await Promise.all(callers)).reduce((a, b) => a + b, 0);
      });
      expect(result).toBeGreaterThanOrEqual(20_000);
      // Unpatched, the busy queue's array grows by one slot per query while the pool is saturated.
      expect(longest).toBe(0);
    } finally {
      await database.close();
    }
  });
});
