import fp from 'fastify-plugin';
import { tracingActive } from '../observability/tracer.js';

// Request spans from @fastify/otel (the maintained Fastify instrumentation), registered first
// so every later hook and route runs inside the request's span. Only when tracing is on
// (observability/start.ts): off, the instrumentation is never even imported.
export default fp(
  async (app) => {
    if (!tracingActive()) return;
    const { FastifyOtelInstrumentation } = await import('@fastify/otel');
    const instrumentation = new FastifyOtelInstrumentation({
      registerOnInitialization: false,
      // A span per route handler, not per hook: the hooks that matter (the session check)
      // open their own spans, and twenty hook spans per request would drown them.
      instrumentHooks: false,
      // An exception event would carry the error's message and stack; the status says enough.
      recordExceptions: false,
      // url.path defaults to request.url, query string and all (a verify token, a search
      // term): the path alone, as the request log keeps it.
      // The span is named `{method} {route}`, as the HTTP conventions name server spans.
      requestHook: (span, request) => {
        span.setAttribute('url.path', request.url.split('?')[0]!);
        span.updateName(request.routeOptions.url ? `${request.method} ${request.routeOptions.url}` : request.method);
      },
    });
    await app.register(instrumentation.plugin());
  },
  { name: 'tracing' },
);
