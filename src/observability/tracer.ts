import type * as OtelApi from '@opentelemetry/api';

// The one switch every instrumented place reads. Tracing is off unless start.ts turned it on
// (OTEL_EXPORTER_OTLP_ENDPOINT set): then, and only then, the OpenTelemetry API and SDK are
// loaded and `active` holds them. Off, this module imports nothing at run time, `traced`
// is a null check, and the factories below hand back what they were given, unwrapped.

export type Api = typeof OtelApi;
export type Attributes = OtelApi.Attributes;
export type Span = OtelApi.Span;

interface Active {
  api: Api;
  tracer: OtelApi.Tracer;
}

let active: Active | null = null;

/** Called by start.ts once the provider is registered; null turns tracing off again (tests). */
export function setActiveTracing(next: Active | null): void {
  active = next;
}

export function tracingActive(): boolean {
  return active !== null;
}

export function activeTracing(): Active | null {
  return active;
}

/**
 * Runs fn inside a span named `name` (a child of the active one); the span records a failure
 * by its error's name or SQLSTATE code only, never its message (messages can quote values).
 */
export function traced<T>(name: string, fn: () => Promise<T>, attributes?: Attributes): Promise<T> {
  if (active === null) return fn();
  const { api, tracer } = active;
  return tracer.startActiveSpan(name, { attributes }, async (span) => {
    try {
      return await fn();
    } catch (err) {
      failSpan(api, span, err);
      throw err;
    } finally {
      span.end();
    }
  });
}

/** fn itself when tracing is off; when on, fn with every call in its own span. */
export function tracedFn<A extends unknown[], T>(name: string, fn: (...args: A) => Promise<T>, attributes?: Attributes): (...args: A) => Promise<T> {
  if (active === null) return fn;
  return (...args) => traced(name, () => fn(...args), attributes);
}

export function failSpan(api: Api, span: Span, err: unknown): void {
  const e = err as { code?: unknown; name?: unknown } | null;
  const type = typeof e?.code === 'string' ? e.code : typeof e?.name === 'string' ? e.name : 'Error';
  span.setAttribute('error.type', type);
  span.setStatus({ code: api.SpanStatusCode.ERROR });
}

/**
 * pino's mixin while tracing is on: every line logged inside a traced request carries its
 * trace_id and span_id next to request_id. undefined when off, so pino calls nothing.
 */
export function traceLogMixin(): (() => Record<string, string>) | undefined {
  if (active === null) return undefined;
  const { api } = active;
  const none: Record<string, string> = {};
  return () => {
    const span = api.trace.getSpan(api.context.active());
    if (!span) return none;
    const { traceId, spanId } = span.spanContext();
    return { trace_id: traceId, span_id: spanId };
  };
}
