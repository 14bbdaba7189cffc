import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import cors from '@fastify/cors';
import Fastify, { type FastifyInstance, type InjectOptions } from 'fastify';
import helmet from 'helmet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_SECURITY_HEADERS, corsOptions, securityHeaders } from '../../src/plugins/http.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';

// The security headers are computed once from helmet's options (src/plugins/http.ts): every
// response must carry exactly what helmet's own middleware sets for the same options.

const OPTIONS = API_SECURITY_HEADERS;

const HTML_ONLY = ['cross-origin-opener-policy', 'origin-agent-cluster', 'referrer-policy', 'x-dns-prefetch-control', 'x-download-options', 'x-permitted-cross-domain-policies', 'x-xss-protection'];

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
    for (const url of ['/health/live', '/api/v1/documents', '/no/such/route', '/rest/v1/documents', '/auth/v1/user']) {
      const res = await t.app.inject({ method: 'GET', url });
      for (const [name, value] of Object.entries(reference)) expect([url, name, res.headers[name]]).toEqual([url, name, value]);
      // helmet's headers for HTML documents are not sent: every response is JSON.
      for (const name of HTML_ONLY) expect([url, name, res.headers[name]]).toEqual([url, name, undefined]);
    }
    const live = await t.app.inject({ method: 'GET', url: '/health/live' });
    expect(live.headers['x-powered-by']).toBeUndefined();
  });

  // What the README promises, as OWASP's REST Security Cheat Sheet lists it for JSON APIs.
  it('are the JSON API set: nothing may load or frame a response, no sniffing, CORP same-site, HSTS', () => {
    expect(reference).toEqual({
      'content-security-policy': "default-src 'none';frame-ancestors 'none'",
      'cross-origin-resource-policy': 'same-site',
      'strict-transport-security': 'max-age=31536000; includeSubDomains',
      'x-content-type-options': 'nosniff',
      'x-frame-options': 'DENY',
    });
  });
});

// CORS asks @fastify/cors itself except for requests without an Origin header, where its
// whole effect is `Vary: Origin` (src/plugins/http.ts). What the app sends must be what the
// library, registered the ordinary way with the same options (and helmet's headers after it,
// as before), sends for the same request.

/** The plugin stack as it was: @fastify/cors registered, then the security headers hook. */
async function corsReference(origins: string[]): Promise<FastifyInstance> {
  const app = Fastify();
  await app.register(cors, corsOptions(origins));
  const headers = securityHeaders(OPTIONS);
  app.addHook('onRequest', (_request, reply, done) => {
    reply.headers(headers);
    done();
  });
  app.get('/health/live', async () => ({ status: 'ok' }));
  app.post('/api/v1/documents', async () => ({}));
  await app.ready();
  return app;
}

const ALLOWED = 'https://app.example';
const ALSO_ALLOWED = 'https://admin.example';
const PREFLIGHT = { 'access-control-request-method': 'GET' };
const CASES: InjectOptions[] = [
  { method: 'GET', url: '/health/live' },
  { method: 'GET', url: '/health/live', headers: { origin: ALLOWED } },
  { method: 'GET', url: '/health/live', headers: { origin: ALSO_ALLOWED } },
  { method: 'GET', url: '/health/live', headers: { origin: 'https://evil.example' } },
  { method: 'GET', url: '/health/live', headers: { origin: `${ALLOWED}.evil.example` } },
  { method: 'GET', url: '/health/live', headers: { origin: '' } },
  { method: 'GET', url: '/health/live', headers: { origin: 'null' } },
  { method: 'GET', url: '/no/such/route', headers: { origin: ALLOWED } },
  { method: 'POST', url: '/api/v1/documents', headers: { origin: ALLOWED }, payload: {} },
  { method: 'OPTIONS', url: '/health/live', headers: { origin: ALLOWED, ...PREFLIGHT } },
  { method: 'OPTIONS', url: '/rest/v1/documents', headers: { origin: ALSO_ALLOWED, 'access-control-request-method': 'PATCH', 'access-control-request-headers': 'range, range-unit, prefer' } },
  { method: 'OPTIONS', url: '/health/live', headers: { origin: ALLOWED } },
  { method: 'OPTIONS', url: '/health/live', headers: { origin: 'https://evil.example', ...PREFLIGHT } },
  { method: 'OPTIONS', url: '/health/live', headers: PREFLIGHT },
  { method: 'OPTIONS', url: '/health/live' },
];

/** What CORS decides in a response; the rest (bodies, our error shape, ids) is not its business. */
function corsView(res: { statusCode: number; headers: Record<string, unknown>; body: string }, preflight: boolean) {
  const view: Record<string, unknown> = { helmet: res.headers['x-content-type-options'] !== undefined };
  for (const [name, value] of Object.entries(res.headers)) if (name.startsWith('access-control-') || name === 'vary') view[name] = value;
  // A preflight the library answers itself: its status, length and body; one it leaves to the
  // router is a 404 in either app.
  if (preflight) Object.assign(view, { status: res.statusCode }, res.statusCode === 404 ? {} : { length: res.headers['content-length'], body: res.body });
  return view;
}

describe('CORS', () => {
  for (const origins of [[ALLOWED, ALSO_ALLOWED], []]) {
    it(`answers as @fastify/cors does (CORS_ORIGINS=${origins.join(',') || 'none'})`, async () => {
      const ours = await buildTestApp({ CORS_ORIGINS: origins.join(',') });
      const reference = await corsReference(origins);
      try {
        for (const req of CASES) {
          const preflight = req.method === 'OPTIONS';
          const [a, b] = await Promise.all([ours.app.inject(req), reference.inject(req)]);
          expect([req, corsView(a, preflight)]).toEqual([req, corsView(b, preflight)]);
        }
        // The cases do exercise the library: an allowed origin gets it all, a preflight its 204.
        const allowed = await ours.app.inject(CASES[9]!);
        if (origins.length > 0) {
          expect(allowed.statusCode).toBe(204);
          expect(allowed.headers).toMatchObject({ 'access-control-allow-origin': ALLOWED, 'access-control-allow-credentials': 'true', 'access-control-max-age': '600', vary: 'Origin' });
          expect(String(allowed.headers['access-control-expose-headers'])).toContain('x-request-id');
        } else {
          expect(allowed.statusCode).toBe(404);
          expect(allowed.headers['access-control-allow-origin']).toBeUndefined();
        }
      } finally {
        await Promise.all([ours.close(), reference.close()]);
      }
    });
  }
});

