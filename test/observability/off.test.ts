import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { traceSql } from '../../src/observability/sql.js';
import { tracedFn, tracingActive } from '../../src/observability/tracer.js';
import { startTracing } from '../../src/observability/start.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { registerUser } from '../helpers/auth.js';

// Tracing off (no OTEL_EXPORTER_OTLP_ENDPOINT): nothing of OpenTelemetry is loaded or hooked.

let t: TestApp;
beforeAll(async () => {
  t = await buildTestApp();
});
afterAll(async () => {
  await t?.close();
});

describe('tracing off', () => {
  it('starts nothing without an endpoint', async () => {
    expect(t.config.tracing.tracesUrl).toBeNull();
    expect(await startTracing(t.config.tracing)).toBeNull();
    expect(tracingActive()).toBe(false);
  });

  it('adds no hook, no wrapper and no log field', async () => {
    // No @fastify/otel: it decorates every request with opentelemetry().
    expect(t.app.hasRequestDecorator('opentelemetry')).toBe(false);
    // The pool's query path is postgres.js's own function, not a wrapper.
    const unsafe = t.database.sql.unsafe;
    expect(traceSql(t.database.sql).unsafe).toBe(unsafe);
    const fn = async () => 1;
    expect(tracedFn('x', fn)).toBe(fn);
    const user = await registerUser(t.app);
    const res = await t.app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: user.headers });
    expect(res.statusCode).toBe(200);
    expect(t.logs.join('')).not.toContain('trace_id');
  });
});
