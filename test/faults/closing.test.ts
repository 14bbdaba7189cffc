import { Agent, request, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../helpers/app.js';

// A request that arrives on an open keep-alive connection while the server is closing is
// answered 503 in its surface's error shape, with Retry-After and Connection: close; never
// fastify's own `{"error":"Service Unavailable",...}` body.
//
// Deterministic setup: each keep-alive socket is busy with a streaming response when the
// close starts (so the server does not reap it as idle); the stream ends after the close has
// begun, and the next request on that same socket is the one that arrives while closing.

const ANON_KEY = 'closing-test-anon-key-0123456789';
let t: TestApp;
let port: number;
let release: () => void;
const gate = new Promise<void>((r) => (release = r));

beforeAll(async () => {
  t = await buildTestApp(
    { OFFBASE_ANON_KEY: ANON_KEY },
    {
      extend(app) {
        app.get('/__test/stream', (_request, reply) => {
          const body = new PassThrough();
          body.write('started\n');
          void gate.then(() => body.end('done\n'));
          return reply.type('text/plain').send(body);
        });
      },
    },
  );
  await t.app.listen({ host: '127.0.0.1', port: 0 });
  port = (t.app.server.address() as AddressInfo).port;
}, 120_000);
afterAll(async () => {
  release?.();
  await t?.close();
});

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
  reusedSocket: boolean;
}

function send(agent: Agent, path: string, onFirstChunk?: () => void): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent, timeout: 10_000, headers: { apikey: ANON_KEY } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        if (!body) onFirstChunk?.();
        body += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body, reusedSocket: req.reusedSocket }));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error(`${path} timed out`)));
    req.end();
  });
}

describe('requests while the server is closing', () => {
  it('answer 503 with Retry-After and Connection: close in each surface shape', async () => {
    const surfaces = ['/api/v1/documents', '/auth/v1/user', '/rest/v1/documents'];
    const agents = surfaces.map(() => new Agent({ keepAlive: true, maxSockets: 1 }));
    try {
      let started = 0;
      let allStarted!: () => void;
      const streaming = new Promise<void>((r) => (allStarted = r));
      const streams = agents.map((agent) => send(agent, '/__test/stream', () => ++started === agents.length && allStarted()));
      await streaming;

      const closed = t.app.close();
      // The close has begun (preClose ran) before the streams end.
      await new Promise((r) => setTimeout(r, 100));
      release();
      for (const s of await Promise.all(streams)) {
        expect(s.status).toBe(200);
        expect(s.body).toBe('started\ndone\n');
      }

      const [own, gotrue, postgrest] = await Promise.all(surfaces.map((path, i) => send(agents[i]!, path)));
      for (const a of [own!, gotrue!, postgrest!]) {
        expect(a.reusedSocket, 'the request must arrive on the kept-alive socket').toBe(true);
        expect(a.status, a.body).toBe(503);
        expect(a.headers['retry-after']).toBe('1');
        expect(a.headers.connection).toBe('close');
        expect(a.headers['content-type']).toMatch(/^application\/json/);
        expect(a.headers['x-request-id']).toBeTruthy();
        expect(a.body).not.toContain('"statusCode"');
      }
      expect(JSON.parse(own!.body)).toEqual({ code: 'service_unavailable', message: expect.any(String), request_id: own!.headers['x-request-id'] });
      expect(JSON.parse(gotrue!.body)).toEqual({ code: 503, error_code: 'unexpected_failure', msg: expect.any(String) });
      expect(JSON.parse(postgrest!.body)).toEqual({ code: 'PGRST001', message: expect.any(String), details: null, hint: null });

      await closed;
    } finally {
      for (const agent of agents) agent.destroy();
    }
  }, 30_000);
});
