import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { trace } from '@opentelemetry/api';
import { startTracing, type Tracing, type TracingConfig } from '../../src/observability/start.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { login, registerUser, type RegisteredUser } from '../helpers/auth.js';

// Tracing on, with every span kept in memory: the span tree of one authenticated request,
// and no secret (password, token, bound value, query-string value) in any span.

const TRACING: TracingConfig = { tracesUrl: null, headers: {}, serviceName: 'offbase-test', sampler: 'always_on', samplerRatio: 1 };
const PROBE = 'probe-value-7f3a91';
const ANON_KEY = 'tracing-test-anon-key-0123456789';

const exporter = new InMemorySpanExporter();
let tracing: Tracing | null;
let t: TestApp;
let user: RegisteredUser;

beforeAll(async () => {
  tracing = await startTracing(TRACING, { exporter });
  t = await buildTestApp({ OFFBASE_ANON_KEY: ANON_KEY });
  user = await registerUser(t.app);
  const res = await login(t.app, user.email, user.password);
  expect(res.statusCode).toBe(200);
});

afterAll(async () => {
  await t?.close();
  await tracing?.shutdown();
});

const isRequestSpan = (s: ReadableSpan) => s.attributes['fastify.root'] === '@fastify/otel';
const childrenOf = (spans: ReadableSpan[], parent: ReadableSpan) => spans.filter((s) => s.parentSpanContext?.spanId === parent.spanContext().spanId);

/** Every string a span exports: name, attribute values, status message, event names and attributes. */
function exportedText(span: ReadableSpan): string {
  return JSON.stringify([span.name, span.attributes, span.status, span.events.map((e) => [e.name, e.attributes]), span.resource.attributes]);
}

describe('tracing on', () => {
  it('traces one authenticated request: route → session check → query, in one trace', async () => {
    exporter.reset();
    const res = await t.app.inject({ method: 'GET', url: `/api/v1/audit-logs?entity_type=${PROBE}&limit=5`, headers: user.headers });
    expect(res.statusCode).toBe(200);
    const spans = exporter.getFinishedSpans();

    const root = spans.find(isRequestSpan);
    expect(root, spans.map((s) => s.name).join(', ')).toBeDefined();
    expect(root!.parentSpanContext).toBeUndefined();
    expect(root!.name).toBe('GET /api/v1/audit-logs');
    expect(root!.attributes).toMatchObject({ 'http.request.method': 'GET', 'http.route': '/api/v1/audit-logs', 'url.path': '/api/v1/audit-logs', 'http.response.status_code': 200 });
    // One trace for the whole request.
    expect(new Set(spans.map((s) => s.spanContext().traceId))).toEqual(new Set([root!.spanContext().traceId]));

    const check = spans.find((s) => s.name === 'auth.session_check');
    expect(check, 'the session check has its span').toBeDefined();
    expect(check!.parentSpanContext?.spanId).toBe(root!.spanContext().spanId);
    const [sessionQuery, ...more] = childrenOf(spans, check!);
    expect(more).toEqual([]);
    expect(sessionQuery!.name).toBe('SELECT sessions');
    expect(sessionQuery!.attributes).toMatchObject({ 'db.system.name': 'postgresql', 'db.operation.name': 'SELECT', 'db.collection.name': 'sessions', 'db.response.returned_rows': 1 });
    expect(String(sessionQuery!.attributes['db.query.text'])).toMatch(/where \(?"sessions"\."id" = \$1/);

    // The route's own statement, in the handler's span under the request.
    const handler = childrenOf(spans, root!).find((s) => s.attributes['fastify.type'] === 'request-handler');
    expect(handler).toBeDefined();
    const auditQuery = spans.find((s) => s.attributes['db.collection.name'] === 'audit_logs');
    expect(auditQuery, spans.map((s) => s.name).join(', ')).toBeDefined();
    expect(auditQuery!.parentSpanContext?.spanId).toBe(handler!.spanContext().spanId);
    expect(String(auditQuery!.attributes['db.query.text'])).toContain('$');
  });

  it('a document read (by id, a page, a search) carries the session check: one statement per request, two when it found nothing', async () => {
    const created = await t.app.inject({ method: 'POST', url: '/api/v1/documents', headers: user.headers, payload: { title: 'Carried', s3_bucket: 'b', s3_key: `k/${Date.now()}` } });
    expect(created.statusCode).toBe(201);
    const sqlSpans = () => exporter.getFinishedSpans().filter((s) => s.attributes['db.system.name'] === 'postgresql');
    for (const url of [`/api/v1/documents/${created.json().id}`, '/api/v1/documents?limit=5', '/api/v1/documents/search?q=carried', '/api/v1/auth/me']) {
      exporter.reset();
      expect((await t.app.inject({ method: 'GET', url, headers: user.headers })).statusCode).toBe(200);
      const statements = sqlSpans();
      expect(statements.map((s) => s.name), url).toHaveLength(1);
      expect(String(statements[0]!.attributes['db.query.text'])).toMatch(/from "sessions"/);
      expect(exporter.getFinishedSpans().map((s) => s.name)).not.toContain('auth.session_check');
    }
    for (const [url, status] of [['/api/v1/documents/00000000-0000-4000-8000-000000000000', 404], ['/api/v1/documents/search?q=nowherefound', 200]] as const) {
      exporter.reset();
      expect((await t.app.inject({ method: 'GET', url, headers: user.headers })).statusCode, url).toBe(status);
      expect(sqlSpans(), url).toHaveLength(2);
      expect(exporter.getFinishedSpans().map((s) => s.name)).toContain('auth.session_check');
    }
  });

  it("supabase-js getUser carries the session check in the user's read: the user, then the factors, no check of its own", async () => {
    exporter.reset();
    const res = await t.app.inject({ method: 'GET', url: '/auth/v1/user', headers: { ...user.headers, apikey: ANON_KEY } });
    expect(res.statusCode, res.body).toBe(200);
    const statements = exporter.getFinishedSpans().filter((s) => s.attributes['db.system.name'] === 'postgresql');
    expect(statements.map((s) => s.attributes['db.collection.name'])).toEqual(['users', 'mfa_factors']);
    expect(String(statements[0]!.attributes['db.query.text'])).toMatch(/from "sessions"/);
    expect(exporter.getFinishedSpans().map((s) => s.name)).not.toContain('auth.session_check');
  });

  it('puts the trace id and the request id in the same log line', async () => {
    exporter.reset();
    const res = await t.app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: { ...user.headers, 'x-request-id': 'trace-log-probe-1' } });
    expect(res.statusCode).toBe(200);
    const root = exporter.getFinishedSpans().find(isRequestSpan)!;
    const line = t.logs.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.request_id === 'trace-log-probe-1' && l.msg === 'request completed');
    expect(line).toMatchObject({ request_id: 'trace-log-probe-1', trace_id: root.spanContext().traceId });
  });

  it('continues a caller’s trace from its traceparent header', async () => {
    exporter.reset();
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    await t.app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: { ...user.headers, traceparent: `00-${traceId}-00f067aa0ba902b7-01` } });
    const root = exporter.getFinishedSpans().find(isRequestSpan)!;
    expect(root.spanContext().traceId).toBe(traceId);
  });

  it('traces password hashing, transactions and mail', async () => {
    exporter.reset();
    const res = await t.app.inject({ method: 'POST', url: '/api/v1/auth/password/forgot', payload: { email: user.email } });
    expect(res.statusCode).toBeLessThan(300);
    // Mail leaves after the reply: its span comes a moment later, in the request's trace.
    await vi.waitFor(() => expect(exporter.getFinishedSpans().map((s) => s.name)).toContain('mail.send'));
    const spans = exporter.getFinishedSpans();
    const mail = spans.find((s) => s.name === 'mail.send')!;
    expect(mail.attributes).toEqual({ 'mail.transport': 'recording' });
    expect(mail.spanContext().traceId).toBe(spans.find(isRequestSpan)!.spanContext().traceId);
    exporter.reset();
    const other = await registerUser(t.app);
    const names = exporter.getFinishedSpans().map((s) => s.name);
    expect(names).toContain('password.hash');
    expect(names).toContain('transaction');
    expect(names.some((n) => n.startsWith('INSERT users'))).toBe(true);
    exporter.reset();
    expect((await login(t.app, other.email, other.password)).statusCode).toBe(200);
    expect(exporter.getFinishedSpans().map((s) => s.name)).toContain('password.verify');
  });

  it('exports no password, token, email or query-string value, and no error message', async () => {
    exporter.reset();
    const secret = await registerUser(t.app, { password: 'tracing-secret-password-Xq81!' });
    const logged = await login(t.app, secret.email, secret.password);
    const { refresh_token: refreshToken } = logged.json() as { refresh_token: string };
    await t.app.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: { refresh_token: refreshToken } });
    await t.app.inject({ method: 'GET', url: `/api/v1/audit-logs?entity_type=${PROBE}`, headers: secret.headers });
    await t.app.inject({ method: 'GET', url: `/api/v1/auth/me?token=${PROBE}`, headers: secret.headers });
    // PostgREST-style filters and a select naming an unknown column (its error quotes it).
    const compat = { ...secret.headers, apikey: ANON_KEY };
    await t.app.inject({ method: 'GET', url: `/rest/v1/documents?title=eq.${PROBE}`, headers: compat });
    const unknownColumn = await t.app.inject({ method: 'GET', url: `/rest/v1/documents?select=${PROBE}`, headers: compat });
    expect(unknownColumn.statusCode).toBe(400);
    // A failed request whose status message would quote a statement's parameters.
    const tracer = trace.getTracer('test');
    tracer.startSpan('failing').setStatus({ code: 2, message: `Failed query: select $1\nparams: ${PROBE}` }).end();

    const spans = exporter.getFinishedSpans();
    expect(spans.length).toBeGreaterThan(10);
    const secrets = [secret.password, secret.accessToken, secret.refreshToken, refreshToken, secret.email, PROBE];
    for (const span of spans) {
      const text = exportedText(span);
      for (const s of secrets) expect(text, `span ${span.name}`).not.toContain(s);
    }
    expect(spans.find((s) => s.name === 'failing')!.status).toEqual({ code: 2 });
  });
});
