import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

// lowerThreadPoolPriority in a process of its own (a test worker's pool is shared with whatever
// else the worker runs): it must find exactly libuv's pool threads and renice only them.
const root = path.resolve(import.meta.dirname, '../..');
const script = `
  import { readdirSync, readFileSync } from 'node:fs';
  import { lowerThreadPoolPriority } from ${JSON.stringify(path.join(root, 'src/lib/thread-pool.ts'))};
  const lowered = await lowerThreadPoolPriority();
  const nice = Object.fromEntries(readdirSync('/proc/self/task').map((tid) => {
    const stat = readFileSync('/proc/self/task/' + tid + '/stat', 'utf8');
    return [tid, Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16])];
  }));
  console.log(JSON.stringify({ lowered, pid: process.pid, nice }));
`;

function run(env: Record<string, string> = {}) {
  const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: root, env: { ...process.env, ...env }, encoding: 'utf8' });
  return JSON.parse(out.trim().split('\n').at(-1)!) as { lowered: boolean; pid: number; nice: Record<string, number> };
}

describe.runIf(process.platform === 'linux')('lowerThreadPoolPriority', () => {
  it.each([['4 (the default)', {}, 4], ['2', { UV_THREADPOOL_SIZE: '2' }, 2], ['6', { UV_THREADPOOL_SIZE: '6' }, 6]])(
    'renices exactly the pool’s threads, %s of them, and not the main thread',
    (_name, env, size) => {
      const { lowered, pid, nice } = run(env);
      expect(lowered, JSON.stringify(nice)).toBe(true);
      expect(Object.values(nice).filter((n) => n === 5)).toHaveLength(size);
      expect(nice[String(pid)]).toBe(0);
      expect(Object.values(nice).filter((n) => n !== 0 && n !== 5)).toEqual([]);
    },
  );
});
