import { createRequire } from 'node:module';
import type { FastifyBaseLogger } from 'fastify';
import pino, { type Bindings, type ChildLoggerOptions, type Logger, type LoggerOptions } from 'pino';
import type { PrettyOptions } from 'pino-pretty';
import type { Config } from './config.js';
import { traceLogMixin } from './observability/tracer.js';

// Anything that could carry a credential is censored before a line is written, wherever
// it appears (headers, bodies a handler chose to log, error objects).
const SECRET_FIELDS = [
  'password',
  'new_password',
  'current_password',
  'password_hash',
  'encrypted_password',
  'token',
  'refresh_token',
  'access_token',
  'token_hash',
  'secret',
  'apikey',
];

export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers.apikey',
  'req.headers["x-api-key"]',
  'res.headers["set-cookie"]',
  ...SECRET_FIELDS,
  ...SECRET_FIELDS.map((f) => `*.${f}`),
  ...SECRET_FIELDS.map((f) => `*.*.${f}`),
];

// A failed statement's error (drizzle's DrizzleQueryError) carries the statement's bind
// parameters — user data, password hashes, token hashes — in `params`, its message and its
// stack. The SQL text stays (it names the statement); the values never reach a log line.
const PARAMS_IN_TEXT = /\nparams: .*/g;
type SerializedError = ReturnType<typeof pino.stdSerializers.err> & { params?: unknown; message?: string; stack?: string };

export function serializeError(err: Error): SerializedError {
  const out = pino.stdSerializers.err(err) as SerializedError;
  if (!out || typeof out !== 'object') return out;
  delete out.params;
  if (typeof out.message === 'string') out.message = out.message.replace(PARAMS_IN_TEXT, '\nparams: [redacted]');
  if (typeof out.stack === 'string') out.stack = out.stack.replace(PARAMS_IN_TEXT, '\nparams: [redacted]');
  return out;
}

export function loggerOptions(config: Pick<Config, 'logLevel'>): LoggerOptions {
  // With tracing on, each line also names its trace and span (observability/tracer.ts).
  const mixin = traceLogMixin();
  return {
    level: config.logLevel,
    ...(mixin ? { mixin } : {}),
    base: { service: 'offbase' },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    // Requests are logged once, on completion, by plugins/request-log.ts; the default
    // serializers would log the raw URL, query string (and any token in it) included.
    serializers: {
      req: (req: { method?: string; url?: string }) => ({ method: req.method, url: req.url?.split('?')[0] }),
      res: (res: { statusCode?: number }) => ({ statusCode: res.statusCode }),
      err: serializeError,
    },
  };
}

/**
 * A sibling of `log` (same destination, level, base fields, mixin and serializers) that writes
 * without the redaction walk. Only for lines whose every field the caller fixes and none can
 * carry a secret (plugins/request-log.ts): built once, not per line.
 */
export function withoutRedaction(log: FastifyBaseLogger): FastifyBaseLogger {
  return log.child({}, { redact: [] });
}

const { chindingsSym } = pino.symbols;
const SAFE_BINDING = /^[A-Za-z0-9._:-]*$/;

/**
 * The per-request child, built: bound to the request id, for the same lines as
 * `logger.child(bindings, options)` and with the same redaction. pino runs every binding value
 * through the redactor, and the wildcard paths cost it a walk of every path even for a plain
 * string, which no path can censor: so for the one binding Fastify passes, a request id of safe
 * characters (request-log.ts's genReqId), the child is made without bindings and the id is
 * appended to its bindings text as pino itself writes it (the mechanism pino.symbols exposes
 * for this). Anything else takes pino's own path.
 */
function boundChild(logger: FastifyBaseLogger, key: string, value: string, options: ChildLoggerOptions): FastifyBaseLogger {
  const child = logger.child({}, options) as FastifyBaseLogger & { [chindingsSym]: string };
  child[chindingsSym] += `,"${key}":"${value}"`;
  return child;
}

const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;
const kBuilt = Symbol('offbase.requestLogger.built');
const kValue = Symbol('offbase.requestLogger.value');
interface Deferred {
  [kBuilt]: FastifyBaseLogger | null;
  [kValue]: string;
}
type DeferredProto = Deferred & FastifyBaseLogger;
type DeferredConstructor = new (value: string) => DeferredProto;

/**
 * What a deferred child inherits from: `template` (the parent's child for these options, made
 * once, so the level, isLevelEnabled, levelVal, flush and the rest read right), with every
 * method that writes or binds (the log methods, child, bindings, setBindings, the level
 * setter) building the request's own child on first use and handing the call to it.
 */
function deferredLogger(logger: FastifyBaseLogger, key: string, options: ChildLoggerOptions): DeferredConstructor {
  const template = logger.child({}, options) as Logger;
  const proto = Object.create(template) as DeferredProto & Record<string, unknown>;
  // The id is checked here, when a line needs it, not per request: one that is not plain text takes pino's own path.
  const build = (value: string) => (SAFE_BINDING.test(value) ? boundChild(logger, key, value, options) : logger.child({ [key]: value }, options));
  const built = (d: Deferred): Logger => (d[kBuilt] ??= build(d[kValue])) as Logger;
  for (const level of LEVELS) {
    // A level the template has off stays a no-op until someone changes the level (which builds).
    const enabled = template.isLevelEnabled(level);
    proto[level] = function (this: Deferred, ...args: unknown[]) {
      const real = this[kBuilt];
      if (real) return (real[level] as (...a: unknown[]) => void)(...args);
      if (enabled) (built(this)[level] as (...a: unknown[]) => void)(...args);
    };
  }
  Object.defineProperties(proto, {
    child: { value: function (this: Deferred, bindings: Bindings, opts?: ChildLoggerOptions) { return built(this).child(bindings, opts); } },
    bindings: { value: function (this: Deferred) { return built(this).bindings(); } },
    setBindings: { value: function (this: Deferred, bindings: Bindings) { built(this).setBindings(bindings); } },
    isLevelEnabled: { value: function (this: Deferred, level: string) { return (this[kBuilt] as Logger | null ?? template).isLevelEnabled(level); } },
    level: {
      get(this: Deferred) {
        return (this[kBuilt] ?? template).level;
      },
      set(this: Deferred, level: string) {
        built(this).level = level;
      },
    },
    levelVal: {
      get(this: Deferred) {
        return ((this[kBuilt] as Logger | null) ?? template).levelVal;
      },
    },
  });
  // A constructor rather than Object.create: one object shape from the first request on.
  function DeferredRequestLogger(this: Deferred, value: string) {
    this[kBuilt] = null;
    this[kValue] = value;
  }
  DeferredRequestLogger.prototype = proto;
  return DeferredRequestLogger as unknown as DeferredConstructor;
}

/** Per parent logger: the binding key the deferred loggers were made for, and one constructor per level. */
const deferredLoggers = new WeakMap<FastifyBaseLogger, { key: string; byLevel: Map<string, DeferredConstructor> }>();

/**
 * Fastify's per-request child logger (app.setChildLoggerFactory), built only when something
 * uses it. Most requests write no line through request.log (the request line has a logger of
 * its own, request-log.ts), yet a pino child costs an object, its level methods and the id's
 * bindings text on every request. For Fastify's one binding (the request id) and options that
 * set at most the level (a route's logLevel), the request gets an object that inherits the
 * level and everything else from a child made once per level, and builds its own bound child
 * (`boundChild`, the same lines as `logger.child(bindings, options)`) the first time it
 * writes, binds or changes level. Anything else takes pino's own path.
 */
export function requestChildLogger(logger: FastifyBaseLogger, bindings: Bindings, options: ChildLoggerOptions): FastifyBaseLogger {
  let key: string | undefined;
  for (const k in bindings) {
    if (key !== undefined) return logger.child(bindings, options);
    key = k;
  }
  const value = key === undefined ? undefined : bindings[key];
  if (key === undefined || typeof value !== 'string') return logger.child(bindings, options);
  let level = '';
  for (const k in options) {
    if (k !== 'level' || typeof options.level !== 'string') return safeKey(key) && SAFE_BINDING.test(value) ? boundChild(logger, key, value, options) : logger.child(bindings, options);
    level = options.level;
  }
  let cache = deferredLoggers.get(logger);
  if (cache?.key !== key) {
    if (!safeKey(key)) return logger.child(bindings, options);
    deferredLoggers.set(logger, (cache = { key, byLevel: new Map() }));
  }
  let Deferred = cache.byLevel.get(level);
  if (!Deferred) cache.byLevel.set(level, (Deferred = deferredLogger(logger, key, level ? { level } : {})));
  return new Deferred(value);
}

/** A binding key written as is into the bindings text: nothing to escape, no redact path names it. */
function safeKey(key: string): boolean {
  return SAFE_BINDING.test(key) && !REDACT_PATHS.includes(key);
}

type PrettyFactory = (options: PrettyOptions) => pino.DestinationStream;

/**
 * pino-pretty is a devDependency, absent from the production image: loaded only when asked
 * for, and when it is missing the logs stay JSON (said once, in JSON) rather than the process
 * failing to start.
 */
function prettyStream(destination: pino.DestinationStream | undefined): pino.DestinationStream | null {
  let pretty: PrettyFactory;
  try {
    pretty = createRequire(import.meta.url)('pino-pretty') as PrettyFactory;
  } catch {
    return null;
  }
  return pretty({
    // A stream given by a caller (tests) gets plain text; the terminal gets colour when it is one.
    ...(destination ? { destination, colorize: false } : { destination: 1 }),
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname,service',
  });
}

/**
 * The process logger: JSON lines on stdout, which CloudWatch and every log shipper read; with
 * `logPretty` (LOG_PRETTY=true outside production, `npm run dev`) pretty-printed instead. Either
 * way redaction and the serializers run first: the pretty printer only sees censored lines.
 */
export function createLogger(config: Pick<Config, 'logLevel'> & Partial<Pick<Config, 'logPretty'>>, destination?: pino.DestinationStream): Logger {
  const pretty = config.logPretty ? prettyStream(destination) : null;
  if (pretty) return pino(loggerOptions(config), pretty);
  // Asynchronous stdout: a synchronous write per request line costs the hot path a system
  // call; sonic-boom coalesces lines written while one write is in flight and flushes on exit.
  const log = pino(loggerOptions(config), destination ?? pino.destination({ dest: 1, sync: false }));
  if (config.logPretty) log.warn('LOG_PRETTY=true but pino-pretty (a devDependency) is not installed: logging JSON lines');
  return log;
}
