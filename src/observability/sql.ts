import type { Sql } from 'postgres';
import { activeTracing, failSpan, type Api, type Attributes } from './tracer.js';

// Spans for database statements. postgres.js has no OpenTelemetry instrumentation of its own
// (and drizzle's built-in tracer is not wired to the API), so this wraps the one path every
// statement takes: `unsafe(text, params)`, which drizzle calls for each query, on the pool,
// in a transaction (begin's callback gets its own sql) and in a savepoint. Attributes follow
// the OpenTelemetry database conventions; the statement text is drizzle's parameterised SQL
// ($1, $2, …): bound values never reach a span.

type Query = Promise<unknown> & { resolve(x: unknown): void; reject(e: unknown): void };
type Unsafe = (text: string, ...rest: unknown[]) => Query;
type Scoped = (...args: unknown[]) => Promise<unknown>;
interface LooseSql {
  unsafe: Unsafe;
  begin?: Scoped;
  savepoint?: Scoped;
  reserve?: () => Promise<LooseSql>;
}

const OPERATION = /^\s*(\w+)/;
const PARENTHESISED = /\([^()]*\)/g;
const TARGET = /\b(?:from|into|update|join)\s+("?)([\w.]+)\1/i;

/** "SELECT sessions", "INSERT audit_logs", "BEGIN": low-cardinality names, per the conventions. */
function spanName(text: string): { name: string; operation: string; collection?: string } {
  const operation = (OPERATION.exec(text)?.[1] ?? 'query').toUpperCase();
  // The statement's own table, not one of a subquery in its select list: parenthesised parts out first.
  let outer = text;
  for (let inner = ''; inner !== outer; ) [inner, outer] = [outer, outer.replace(PARENTHESISED, '')];
  const collection = TARGET.exec(outer)?.[2];
  return { name: collection ? `${operation} ${collection}` : operation, operation, ...(collection ? { collection } : {}) };
}

function serverAttributes(sql: Sql): Attributes {
  const o = sql.options as unknown as { host?: string[]; port?: number[]; database?: string };
  return {
    'db.system.name': 'postgresql',
    ...(o.database ? { 'db.namespace': o.database } : {}),
    ...(o.host?.[0] ? { 'server.address': o.host[0] } : {}),
    ...(o.port?.[0] ? { 'server.port': o.port[0] } : {}),
  };
}

function observe(api: Api, tracer: ReturnType<Api['trace']['getTracer']>, base: Attributes, text: string, query: Query): void {
  const { name, operation, collection } = spanName(text);
  const span = tracer.startSpan(name, {
    kind: api.SpanKind.CLIENT,
    attributes: { ...base, 'db.operation.name': operation, ...(collection ? { 'db.collection.name': collection } : {}), 'db.query.text': text },
  });
  const { resolve, reject } = query;
  query.resolve = (result) => {
    const count = (result as { count?: unknown } | null)?.count;
    if (typeof count === 'number') span.setAttribute('db.response.returned_rows', count);
    span.end();
    resolve(result);
  };
  query.reject = (err) => {
    const code = (err as { code?: unknown } | null)?.code;
    if (typeof code === 'string') span.setAttribute('db.response.status_code', code);
    failSpan(api, span, err);
    span.end();
    reject(err);
  };
}

function instrument(sql: LooseSql, base: Attributes, api: Api, tracer: ReturnType<Api['trace']['getTracer']>): LooseSql {
  const unsafe = sql.unsafe;
  sql.unsafe = (...args: Parameters<Unsafe>) => {
    const query = unsafe(...args);
    observe(api, tracer, base, args[0], query);
    return query;
  };
  // A transaction (or savepoint) is a span of its own; its statements are its children.
  for (const method of ['begin', 'savepoint'] as const) {
    const original = sql[method];
    if (!original) continue;
    sql[method] = (...args: unknown[]) => {
      const fn = args.at(-1) as (tx: LooseSql) => unknown;
      args[args.length - 1] = (tx: LooseSql) => fn(instrument(tx, base, api, tracer));
      return tracer.startActiveSpan(method === 'begin' ? 'transaction' : 'savepoint', { kind: api.SpanKind.CLIENT, attributes: base }, async (span) => {
        try {
          return await original(...args);
        } catch (err) {
          failSpan(api, span, err);
          throw err;
        } finally {
          span.end();
        }
      });
    };
  }
  const reserve = sql.reserve;
  if (reserve) sql.reserve = async () => instrument(await reserve(), base, api, tracer);
  return sql;
}

/** sql itself, untouched, when tracing is off; when on, the same pool with a span per statement. */
export function traceSql(sql: Sql): Sql {
  const tracing = activeTracing();
  if (!tracing) return sql;
  instrument(sql as unknown as LooseSql, serverAttributes(sql), tracing.api, tracing.tracer);
  return sql;
}
