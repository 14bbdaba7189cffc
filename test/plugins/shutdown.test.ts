import { Agent, request, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../helpers/app.js';

// src/plugins/shutdown.ts keeps the requests in flight in one list with one timer: each one
// gets its own deadline (REQUEST_TIMEOUT_MS after it arrived), whatever the others do; a
// response already started is cut off at it; and the requests in flight when the close starts
// are answered with Connection: close.

const REQUEST_TIMEOUT_MS = 1000;
let t: TestApp;
let port: number;
const releases: (() => void)[] = [];

beforeAll(async () => {
  t = await buildTestApp(
    { REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS) },
    {
      extend(app) {
        app.get('/__test/wait', async (request) => {
          const { ms } = request.query as { ms: string };
          await new Promise((r) => setTimeout(r, Number(ms)));
          return { waited: Number(ms) };
        });
        app.get('/__test/gate', async () => {
          await new Promise<void>((r) => releases.push(r));
          return { released: true };
        });
        app.get('/__test/stream', (_request, reply) => {
          const body = new PassThrough();
          body.write('started\n');
          return reply.type('text/plain').send(body);
        });
      },
    },
  );
  await t.app.listen({ host: '127.0.0.1', port: 0 });
  port = (t.app.server.address() as AddressInfo).port;
}, 120_000);
afterAll(async () => {
  for (const release of releases) release();
  await t?.close();
});

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
  ms: number;
}

function send(path: string, agent?: Agent): Promise<Answer> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, ...(agent ? { agent } : {}), timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('error', reject);
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body, ms: Date.now() - started }));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error(`${path} timed out`)));
    req.end();
  });
}

describe('the requests in flight', () => {
  it('each gets its own deadline, counted from its arrival', async () => {
    const started = Date.now();
    const first = send('/__test/wait?ms=4000');
    await new Promise((r) => setTimeout(r, 400));
    const second = send('/__test/wait?ms=4000');
    const fast = send('/__test/wait?ms=50');
    const [a, b, c] = await Promise.all([first, second, fast]);
    expect(c.status).toBe(200);
    expect(JSON.parse(c.body)).toEqual({ waited: 50 });
    for (const late of [a, b]) {
      expect(late.status, late.body).toBe(503);
      expect(late.headers['retry-after']).toBe('5');
      expect(JSON.parse(late.body)).toEqual({ code: 'service_unavailable', message: expect.any(String), request_id: late.headers['x-request-id'] });
      expect(late.ms).toBeGreaterThanOrEqual(REQUEST_TIMEOUT_MS - 50);
      expect(late.ms).toBeLessThan(REQUEST_TIMEOUT_MS + 600);
    }
    // The second one's deadline is its own, not the first one's.
    expect(Date.now() - started).toBeGreaterThanOrEqual(400 + REQUEST_TIMEOUT_MS - 50);
    // And the next request after them has a fresh one.
    expect((await send('/__test/wait?ms=600')).status).toBe(200);
  });

  it('a response already started is cut off at the deadline', async () => {
    const started = Date.now();
    await expect(send('/__test/stream')).rejects.toThrow(/aborted|socket hang up|ECONNRESET/);
    expect(Date.now() - started).toBeGreaterThanOrEqual(REQUEST_TIMEOUT_MS - 50);
  });

  it('when the close starts, the ones still in flight are answered with Connection: close', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const inFlight = send('/__test/gate', agent);
      while (releases.length === 0) await new Promise((r) => setTimeout(r, 10));
      const closed = t.app.close();
      await new Promise((r) => setTimeout(r, 100));
      releases.shift()!();
      const answer = await inFlight;
      expect(answer.status).toBe(200);
      expect(JSON.parse(answer.body)).toEqual({ released: true });
      expect(answer.headers.connection).toBe('close');
      expect(answer.headers['x-request-id']).toBeTruthy();
      await closed;
    } finally {
      agent.destroy();
    }
  });
});
