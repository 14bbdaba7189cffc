import type { SpanExporter, Sampler, SpanProcessor, Span as SdkSpan } from '@opentelemetry/sdk-trace-base';
import type { Config } from '../config.js';
import { setActiveTracing } from './tracer.js';

export type TracingConfig = Config['tracing'];

export interface Tracing {
  /** Flushes what is buffered to the collector, then turns tracing off. */
  shutdown(): Promise<void>;
}

export interface StartTracingOptions {
  /** Export here instead of OTLP, each span as it ends (tests: InMemorySpanExporter). */
  exporter?: SpanExporter;
}

/**
 * A failed request's status message is its error's message, and messages quote what they
 * were given: drizzle's "Failed query: … params: …" the bound values, a parse error the query
 * string. Every status message is dropped before any exporter sees the span; the status code
 * stays, and the spans offbase opens name the failure in `error.type`.
 */
function scrubber(): SpanProcessor {
  return {
    onStart() {},
    onEnding(span: SdkSpan) {
      if (span.status.message !== undefined) span.setStatus({ code: span.status.code });
    },
    onEnd() {},
    forceFlush: async () => {},
    shutdown: async () => {},
  };
}

async function sampler(config: TracingConfig): Promise<Sampler> {
  const { AlwaysOnSampler, AlwaysOffSampler, ParentBasedSampler, TraceIdRatioBasedSampler } = await import('@opentelemetry/sdk-trace-base');
  const [parentBased, kind] = config.sampler.startsWith('parentbased_') ? [true, config.sampler.slice('parentbased_'.length)] : [false, config.sampler];
  const root = kind === 'always_off' ? new AlwaysOffSampler() : kind === 'traceidratio' ? new TraceIdRatioBasedSampler(config.samplerRatio) : new AlwaysOnSampler();
  return parentBased ? new ParentBasedSampler({ root }) : root;
}

/**
 * Turns tracing on when OTEL_EXPORTER_OTLP_ENDPOINT (or …_TRACES_ENDPOINT) is set, or a test
 * passes an exporter; otherwise returns null having loaded nothing. Call it before the
 * database and the app are built: they look once, when built, whether to instrument.
 */
export async function startTracing(config: TracingConfig, options: StartTracingOptions = {}): Promise<Tracing | null> {
  if (!config.tracesUrl && !options.exporter) return null;
  const [api, { NodeTracerProvider }, { BatchSpanProcessor, SimpleSpanProcessor }, { resourceFromAttributes }] = await Promise.all([
    import('@opentelemetry/api'),
    import('@opentelemetry/sdk-trace-node'),
    import('@opentelemetry/sdk-trace-base'),
    import('@opentelemetry/resources'),
  ]);
  let processor: SpanProcessor;
  if (options.exporter) {
    processor = new SimpleSpanProcessor(options.exporter);
  } else {
    const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-proto');
    processor = new BatchSpanProcessor(new OTLPTraceExporter({ url: config.tracesUrl!, headers: config.headers }));
  }
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ 'service.name': config.serviceName }),
    sampler: await sampler(config),
    spanProcessors: [scrubber(), processor],
  });
  // The AsyncLocalStorage context manager and the W3C traceparent propagator.
  provider.register();
  setActiveTracing({ api, tracer: api.trace.getTracer('offbase') });
  return {
    async shutdown() {
      setActiveTracing(null);
      await provider.shutdown();
      api.trace.disable();
      api.context.disable();
      api.propagation.disable();
    },
  };
}
