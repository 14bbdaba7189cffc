import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { freePort } from '../../test/setup/server.js';

export interface Child {
  baseUrl: string;
  child: ChildProcess;
  pid: number;
  /** From spawn to the first answer below 500 on readyPath, in ms. */
  readyMs: number;
  stop(): Promise<number | null>;
}

/**
 * An entry (TypeScript, or compiled JavaScript) as its own Node process (the API and the B1 floor run the same way),
 * logging to a file: production writes its JSON log lines somewhere too, so that cost stays in.
 */
export async function startChild(root: string, entry: string, env: Record<string, string>, logFile: string, readyPath: string, nodeArgs: string[] = []): Promise<Child> {
  const port = await freePort();
  const out = openSync(logFile, 'w');
  const spawned = performance.now();
  // TypeScript through tsx's loader; a compiled .js entry (dist/) runs as the image runs it.
  const loader = entry.endsWith('.js') ? [] : ['--import', 'tsx'];
  const child = spawn(process.execPath, [...nodeArgs, ...loader, path.join(root, entry)], {
    cwd: root,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, HOST: '127.0.0.1', PORT: String(port), ...env },
    stdio: ['ignore', out, out],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const baseUrl = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${entry} exited with ${child.exitCode}; see ${logFile}`);
    if (Date.now() > deadline) throw new Error(`${entry} not ready after 60 s; see ${logFile}`);
    try {
      const res = await fetch(baseUrl + readyPath, { signal: AbortSignal.timeout(2000) });
      if (res.status < 500) break;
    } catch {
      // not listening yet
    }
    // Polled often: the time to ready is reported (boot target), so the poll must not dominate it.
    await new Promise((r) => setTimeout(r, 10));
  }
  const readyMs = performance.now() - spawned;
  return {
    baseUrl,
    child,
    pid: child.pid!,
    readyMs,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

/**
 * NODE_OPTIONS and MALLOC_* from the ENV of the Dockerfile's runtime stage: the API (and the
 * floor, alike) run with the V8 and glibc settings production has, from the one place they live.
 */
export function imageRuntimeEnv(root: string): Record<string, string> {
  const dockerfile = readFileSync(path.join(root, 'Dockerfile'), 'utf8');
  const runtime = dockerfile.slice(dockerfile.indexOf('AS runtime')).replace(/\\\n/g, ' ');
  const env: Record<string, string> = {};
  for (const line of runtime.split('\n').filter((l) => /^ENV\s/.test(l))) {
    for (const m of line.matchAll(/(\w+)=("([^"]*)"|\S+)/g)) {
      if (m[1] === 'NODE_OPTIONS' || m[1]!.startsWith('MALLOC_')) env[m[1]!] = m[3] ?? m[2]!;
    }
  }
  return env;
}
