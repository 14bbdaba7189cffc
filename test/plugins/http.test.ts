import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import helmet from 'helmet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../helpers/app.js';

// The security headers are computed once from helmet's options (src/plugins/http.ts): every
// response must carry exactly what helmet's own middleware sets for the same options.

const OPTIONS = { contentSecurityPolicy: false, crossOriginResourcePolicy: { policy: 'same-site' } } as const;

/** The headers helmet's middleware itself sets on a real response. */
async function helmetReference(): Promise<Record<string, string>> {
  const middleware = helmet(OPTIONS);
  const server: Server = createServer((req, res) => middleware(req, res, () => res.end()));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    const skip = new Set(['date', 'connection', 'keep-alive', 'content-length', 'transfer-encoding']);
    return Object.fromEntries([...res.headers].filter(([k]) => !skip.has(k)));
  } finally {
    server.close();
  }
}

describe('security headers', () => {
  let t: TestApp;
  let reference: Record<string, string>;
  beforeAll(async () => {
    t = await buildTestApp();
    reference = await helmetReference();
  });
  afterAll(async () => {
    await t.close();
  });

  it("are helmet's, on a route, on an error and on a 404", async () => {
    expect(Object.keys(reference).length).toBeGreaterThan(8);
    for (const url of ['/health/live', '/api/v1/documents', '/no/such/route']) {
      const res = await t.app.inject({ method: 'GET', url });
      for (const [name, value] of Object.entries(reference)) expect([url, name, res.headers[name]]).toEqual([url, name, value]);
    }
    const live = await t.app.inject({ method: 'GET', url: '/health/live' });
    expect(live.headers['x-powered-by']).toBeUndefined();
    expect(live.headers['content-security-policy']).toBeUndefined();
  });
});
