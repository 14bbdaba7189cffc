import { Type } from '@sinclair/typebox';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../helpers/app.js';

// Route schemas are compiled on first use (src/lib/lazy-schemas.ts). What must not change:
// validation, coercion, header names and response serialization behave as with Fastify's
// compile-at-start; and every schema of the real app still builds (app.compileSchemas).

describe('lazy route schemas', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp({}, {
      extend: (app) => {
        app.post(
          '/test/lazy/:n',
          {
            schema: {
              params: Type.Object({ n: Type.Integer({ minimum: 1 }) }),
              querystring: Type.Object({ tags: Type.Array(Type.String()), flag: Type.Boolean({ default: false }) }),
              headers: Type.Object({ 'X-Lazy-Check': Type.String({ pattern: '^ok$' }) }, { required: ['X-Lazy-Check'] }),
              body: Type.Object({ title: Type.String({ minLength: 1 }) }),
              response: { 200: Type.Object({ n: Type.Integer(), tags: Type.Array(Type.String()), flag: Type.Boolean(), title: Type.String() }) },
            },
          },
          async (req) => {
            const { n } = req.params as { n: number };
            const { tags, flag } = req.query as { tags: string[]; flag: boolean };
            // `secret` is not in the response schema: the serializer must drop it.
            return { n, tags, flag, title: (req.body as { title: string }).title, secret: 'must-not-appear' };
          },
        );
        // Invalid for Ajv (an unknown type): the app still starts, the route fails when used.
        app.get('/test/lazy-broken', { schema: { querystring: { type: 'object', properties: { q: { type: 'not-a-type' } } } } }, async () => ({ ok: true }));
      },
    });
  });
  afterAll(async () => t?.close());

  const send = (headers: Record<string, string>, url = '/test/lazy/7?tags=a&tags=b', payload: Record<string, unknown> = { title: 'x' }) =>
    t.app.inject({ method: 'POST', url, headers, payload });

  it('validates, coerces, applies defaults and serializes through the response schema', async () => {
    const res = await send({ 'x-lazy-check': 'ok' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ n: 7, tags: ['a', 'b'], flag: false, title: 'x' });
    expect(res.body).not.toContain('must-not-appear');
    // coerceTypes 'array': one value becomes a one-element array.
    expect((await send({ 'x-lazy-check': 'ok' }, '/test/lazy/7?tags=a')).json()).toMatchObject({ tags: ['a'] });
  });

  it('refuses bad input in every part with a 400 in the error shape', async () => {
    const cases = [
      send({ 'x-lazy-check': 'ok' }, '/test/lazy/0?tags=a'),
      send({ 'x-lazy-check': 'no' }),
      send({}),
      send({ 'x-lazy-check': 'ok' }, undefined, { title: '' }),
    ];
    for (const res of await Promise.all(cases)) {
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({ code: expect.any(String), message: expect.any(String), request_id: expect.any(String) });
    }
  });

  it('compiles nothing at start: a schema that cannot build fails its route only, and compileSchemas names it', async () => {
    expect((await t.app.inject({ method: 'GET', url: '/test/lazy-broken?q=1' })).statusCode).toBe(500);
    expect(() => t.app.compileSchemas()).toThrow(/not-a-type/);
  });
});

describe('every schema of the app', () => {
  it('builds (app.compileSchemas compiles what a boot no longer does)', async () => {
    const t = await buildTestApp();
    try {
      expect(() => t.app.compileSchemas()).not.toThrow();
      // Nothing left: a second call compiles nothing and is instant.
      const started = performance.now();
      t.app.compileSchemas();
      expect(performance.now() - started).toBeLessThan(50);
    } finally {
      await t.close();
    }
  });
});
