import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../helpers/app.js';

// The request-completed line is written without the redaction walk (plugins/request-log.ts):
// it must still be the same line, carry no secret, and leave every other line redacted.

type Line = Record<string, unknown>;

describe('request log', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp(
      {},
      {
        extend: (a) => {
          a.post('/things/:id', async (request) => {
            request.log.info({ body: request.body, token: 'tk-secret-1' }, 'handler logged its body');
            return { ok: true };
          });
          a.get('/broken', async () => {
            throw Object.assign(new Error('broken on purpose'), { token: 'err-secret-2', detail: { password: 'err-secret-3' } });
          });
        },
      },
    );
  });
  afterAll(async () => {
    await t.close();
  });

  const linesOf = (requestId: string): Line[] => t.logs.map((l) => JSON.parse(l) as Line).filter((l) => l.request_id === requestId);

  it('is one line with the fixed fields, the path without its query string, and no credential', async () => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/things/abc?access_token=qs-secret-4&apikey=qs-secret-5',
      headers: { authorization: 'Bearer hdr-secret-6', cookie: 'sid=cookie-secret-7', 'x-request-id': 'rl-line-1' },
      payload: { password: 'pw-secret-8', nested: { refresh_token: 'rt-secret-9' } },
    });
    expect(res.statusCode).toBe(200);
    const lines = linesOf('rl-line-1');
    const done = lines.filter((l) => l.msg === 'request completed');
    expect(done).toHaveLength(1);
    const line = done[0]!;
    expect(Object.keys(line).sort()).toEqual(['duration_ms', 'level', 'method', 'msg', 'path', 'request_id', 'route', 'service', 'status', 'time']);
    expect(line).toMatchObject({ level: 30, service: 'offbase', request_id: 'rl-line-1', method: 'POST', route: '/things/:id', path: '/things/abc', status: 200 });
    expect(typeof line.duration_ms).toBe('number');

    // The handler's own line in the same request: still bound to the request, still redacted.
    const handler = lines.find((l) => l.msg === 'handler logged its body');
    expect(handler).toMatchObject({ token: '[redacted]', body: { password: '[redacted]', nested: { refresh_token: '[redacted]' } } });
    const all = t.logs.join('\n');
    for (const s of ['tk-secret-1', 'qs-secret-4', 'qs-secret-5', 'hdr-secret-6', 'cookie-secret-7', 'pw-secret-8', 'rt-secret-9']) expect(all).not.toContain(s);
  });

  it('leaves error lines redacted', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/broken', headers: { 'x-request-id': 'rl-error-1' } });
    expect(res.statusCode).toBe(500);
    const lines = linesOf('rl-error-1');
    const error = lines.find((l) => (l.err as { message?: string } | undefined)?.message === 'broken on purpose');
    expect(error).toMatchObject({ err: { token: '[redacted]', detail: { password: '[redacted]' } } });
    expect(lines.find((l) => l.msg === 'request completed')).toMatchObject({ route: '/broken', status: 500 });
    const all = t.logs.join('\n');
    for (const s of ['err-secret-2', 'err-secret-3']) expect(all).not.toContain(s);
  });

  it("follows the route's log level: health checks (logLevel warn) write no line", async () => {
    await t.app.inject({ method: 'GET', url: '/health/live', headers: { 'x-request-id': 'rl-quiet-1' } });
    expect(linesOf('rl-quiet-1')).toEqual([]);
  });
});
