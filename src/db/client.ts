import { readFileSync } from 'node:fs';
import { drizzle, type PostgresJsDatabase } from 'drizzle-orm/postgres-js';
import postgres, { type Options, type Sql } from 'postgres';
import type { DatabaseConfig } from '../config.js';
import { traceSql } from '../observability/sql.js';
import * as schema from './schema/index.js';

export type Db = PostgresJsDatabase<typeof schema>;
/** What a transaction callback receives: the same query API as Db. */
export type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];
export type DbOrTx = Db | Tx;

export interface Database {
  /** Primary pool: writes, transactions, and reads that must see them. */
  db: Db;
  sql: Sql;
  /** Replica pool when DATABASE_READ_URL is set, otherwise the primary. */
  readDb: Db;
  readSql: Sql;
  /** What each pool prepares (DB_PREPARED_STATEMENTS_MAX); replica null without DATABASE_READ_URL. */
  statements: { primary: StatementAdmission; replica: StatementAdmission | null };
  close(timeoutS?: number): Promise<void>;
}

function sslOption(config: DatabaseConfig): Options<Record<string, never>>['ssl'] {
  switch (config.ssl) {
    case 'disable':
      return false;
    case 'require':
      // Encrypted, server not authenticated: RDS's default when no CA bundle is shipped.
      return { rejectUnauthorized: false };
    case 'verify-full':
      return { rejectUnauthorized: true, ...(config.sslCa ? { ca: readFileSync(config.sslCa, 'utf8') } : {}) };
  }
}

async function iamPassword(url: string, region: string | null): Promise<() => Promise<string>> {
  // Loaded only when asked for, so the AWS SDK stays out of every other start-up.
  const { Signer } = await import('@aws-sdk/rds-signer');
  const u = new URL(url);
  const signer = new Signer({
    hostname: u.hostname,
    port: Number(u.port || 5432),
    username: decodeURIComponent(u.username),
    ...(region ? { region } : {}),
  });
  return () => signer.getAuthToken();
}

const KEEPALIVE_S = 30;

/**
 * Gives every query on the pool a client-side deadline: past it the query fails with
 * QUERY_DEADLINE (503 service_unavailable) and its connection is destroyed, never reused.
 * The deadline lives in postgres.js's connection (scripts/patch-postgres.mjs adds it, one
 * timer per running query, no extra round trip); this refuses an unpatched copy rather than
 * run without it.
 */
export function withQueryDeadline(sql: Sql, deadlineMs: number): Sql {
  if (deadlineMs <= 0) return sql;
  const options = sql.options as unknown as Record<string, unknown>;
  if (!('query_deadline_ms' in options)) {
    throw new Error('postgres.js lacks the client-side query deadline: run `node scripts/patch-postgres.mjs` (npm install runs it)');
  }
  options.query_deadline_ms = deadlineMs;
  return sql;
}

export async function poolOptions(
  config: DatabaseConfig,
  url: string,
  overrides: Partial<Options<Record<string, never>>> = {},
): Promise<Options<Record<string, never>>> {
  return {
    max: config.poolMax,
    idle_timeout: config.idleTimeoutS,
    max_lifetime: config.maxLifetimeS,
    connect_timeout: config.connectTimeoutS,
    prepare: config.prepare,
    ssl: sslOption(config),
    onnotice: () => {},
    // TCP keepalive after 30 s of silence (postgres.js defaults to 60 s), so an idle pooled
    // connection to a peer that vanished (failover, NAT or security-group change) errors out
    // instead of taking the next query down with it. A frozen server still ACKs probes: the
    // client-side query deadline (withQueryDeadline) is what bounds a query in flight.
    keep_alive: KEEPALIVE_S,
    // postgres.js backs off reconnects up to 20 s (3^n / 100 s); a request queued behind a
    // backing-off connection waits that long. Capped at 1 s, requests fail fast with 503
    // during an outage and the pool is back within a second of the database.
    backoff: (retries: number) => (0.5 + Math.random() / 2) * Math.min(3 ** retries / 100, 1),
    connection: {
      application_name: 'offbase',
      ...(config.statementTimeoutMs > 0 ? { statement_timeout: config.statementTimeoutMs } : {}),
    },
    ...(config.iamAuth ? { password: await iamPassword(url, config.awsRegion) } : {}),
    ...overrides,
  };
}

type Callback = (client: Sql) => unknown;

/**
 * Which statement texts a pool prepares: the first `max` distinct ones it is sent, for good.
 * postgres.js keeps every prepared statement of a connection until the connection closes (so
 * does PostgreSQL, ~100 KB each for a list), and `/rest/v1` makes a new text for every distinct
 * `select=`, filter and order a client sends: without a bound, one client could make every
 * pooled connection grow until DB_MAX_LIFETIME_S recycles it. Past the bound a new text runs
 * as an unnamed statement (parsed and planned each time, nothing kept); the texts admitted
 * before stay prepared, so the application's own shapes, sent from the first requests on, keep
 * their plans. Each connection of the pool then holds at most `max` statements.
 */
export class StatementAdmission {
  private readonly texts = new Set<string>();
  /** Statements sent unprepared because the bound was reached. */
  refused = 0;
  constructor(readonly max: number) {}

  admit(text: string): boolean {
    if (this.texts.has(text)) return true;
    if (this.texts.size >= this.max) {
      this.refused++;
      return false;
    }
    this.texts.add(text);
    return true;
  }

  /** Distinct texts admitted so far. */
  get admitted(): number {
    return this.texts.size;
  }
}

/**
 * The client drizzle is given: the pool, except that every statement it sends is a prepared
 * one, up to the admission's bound of distinct statements (StatementAdmission). drizzle's query builder sends its statements unnamed (`prepare: false`) unless a
 * query is built with `.prepare(name)`, and postgres.js then spends a round trip describing
 * the statement before it can bind it, while PostgreSQL parses and plans it afresh: two
 * round trips and a plan per statement, where a prepared statement costs one round trip and
 * is planned once per connection. postgres.js keys its per-connection statement cache by the
 * statement text, which drizzle renders with placeholders, so the cache holds one entry per
 * query shape. DB_PREPARE=false (a transaction pooler) still wins: the pool's own `prepare`
 * option gates every statement, so behind PgBouncer nothing is prepared.
 * Transactions and savepoints hand drizzle a client of their own; those prepare too.
 */
export function preparingClient(sql: Sql, admission: StatementAdmission): Sql {
  return new Proxy(sql, {
    get(target, prop, receiver) {
      if (prop === 'unsafe') {
        return (query: string, params?: unknown[], options?: Record<string, unknown>) =>
          target.unsafe(query, params as never, { ...options, prepare: admission.admit(query) });
      }
      if (prop === 'begin' || prop === 'savepoint') {
        const open = Reflect.get(target, prop, receiver) as (...args: unknown[]) => unknown;
        return (...args: unknown[]) => {
          const fn = args.pop() as Callback;
          return open(...args, (client: Sql) => fn(preparingClient(client, admission)));
        };
      }
      return Reflect.get(target, prop, receiver) as unknown;
    },
  });
}

export async function createDatabase(config: DatabaseConfig, url: string): Promise<Database> {
  const sql = traceSql(withQueryDeadline(postgres(url, await poolOptions(config, url)), config.queryDeadlineMs));
  const statements = { primary: new StatementAdmission(config.preparedStatementsMax), replica: null as StatementAdmission | null };
  const db = drizzle(preparingClient(sql, statements.primary), { schema });
  let readSql = sql;
  let readDb = db;
  if (config.readUrl) {
    readSql = traceSql(withQueryDeadline(postgres(config.readUrl, await poolOptions(config, config.readUrl)), config.queryDeadlineMs));
    statements.replica = new StatementAdmission(config.preparedStatementsMax);
    readDb = drizzle(preparingClient(readSql, statements.replica), { schema });
  }
  return {
    db,
    sql,
    readDb,
    readSql,
    statements,
    async close(timeoutS = 5) {
      await Promise.all([sql.end({ timeout: timeoutS }), readSql === sql ? null : readSql.end({ timeout: timeoutS })]);
    },
  };
}
