import { randomBytes } from 'node:crypto';
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { parseTrustProxy, type TrustProxy } from './lib/trust-proxy.js';

// Environment variables, validated once at boot. Every variable is listed here and in the
// README's configuration table; a bad one stops the process with a single line naming it.

const Bool = (def: boolean) => Type.Union([Type.Literal('true'), Type.Literal('false')], { default: String(def) });
const Int = (def: number | undefined, min: number, max: number) =>
  Type.Integer({ minimum: min, maximum: max, ...(def === undefined ? {} : { default: def }) });
const Str = (extra: Record<string, unknown> = {}) => Type.String({ minLength: 1, ...extra });

const EnvSchema = Type.Object({
  NODE_ENV: Type.Union([Type.Literal('development'), Type.Literal('test'), Type.Literal('production')], {
    default: 'development',
  }),
  HOST: Type.Optional(Str()),
  PORT: Int(3000, 0, 65535),
  LOG_LEVEL: Type.Union(
    ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)),
    { default: 'info' },
  ),
  CORS_ORIGINS: Type.String({ default: '' }),
  BODY_LIMIT_BYTES: Int(1_048_576, 1024, 64 * 1_048_576),
  SHUTDOWN_TIMEOUT_MS: Int(10_000, 100, 120_000),
  REQUEST_TIMEOUT_MS: Int(30_000, 1000, 600_000),
  TRUST_PROXY: Type.String({ default: 'false' }),
  PUBLIC_URL: Type.String({ default: 'http://localhost:3000' }),

  DATABASE_URL: Type.Optional(Str({ pattern: '^postgres(ql)?://' })),
  DATABASE_READ_URL: Type.Optional(Str({ pattern: '^postgres(ql)?://' })),
  DATABASE_MIGRATION_URL: Type.Optional(Str({ pattern: '^postgres(ql)?://' })),
  DB_HOST: Type.Optional(Str()),
  DB_PORT: Int(5432, 1, 65535),
  DB_NAME: Type.Optional(Str()),
  DB_USER: Type.Optional(Str()),
  DB_PASSWORD: Type.Optional(Type.String()),
  DB_POOL_MAX: Int(10, 1, 1000),
  DB_IDLE_TIMEOUT_S: Int(30, 0, 86_400),
  DB_MAX_LIFETIME_S: Int(1800, 0, 86_400),
  DB_CONNECT_TIMEOUT_S: Int(10, 1, 300),
  DB_STATEMENT_TIMEOUT_MS: Int(15_000, 0, 3_600_000),
  DB_QUERY_DEADLINE_MS: Type.Optional(Int(undefined, 0, 3_600_000)),
  DB_PREPARE: Bool(true),
  DB_SSL: Type.Union([Type.Literal('disable'), Type.Literal('require'), Type.Literal('verify-full')], {
    default: 'disable',
  }),
  DB_SSL_CA: Type.Optional(Str()),
  DB_IAM_AUTH: Bool(false),
  AWS_REGION: Type.Optional(Str()),
  MIGRATE_ON_BOOT: Bool(true),
  DB_BOOT_WAIT_S: Int(30, 0, 900),
  DB_APP_ROLE: Type.Optional(Str({ pattern: '^[a-z_][a-z0-9_]{0,62}$' })),
  EMBEDDED_DB_DIR: Type.String({ default: '.data/postgres' }),
  EMBEDDED_DB_PORT: Int(54329, 1, 65535),

  JWT_SECRET: Type.Optional(Type.String()),
  JWT_PREVIOUS_SECRETS: Type.Optional(Type.String()),
  JWT_ISSUER: Type.String({ default: 'offbase' }),
  JWT_AUDIENCE: Type.String({ default: 'authenticated' }),
  ACCESS_TOKEN_TTL: Int(900, 30, 86_400),
  REFRESH_TOKEN_TTL: Int(30 * 86_400, 300, 365 * 86_400),
  REFRESH_REUSE_GRACE_S: Int(10, 0, 300),
  ARGON2_MEMORY_KIB: Int(19_456, 8192, 1_048_576),
  ARGON2_TIME_COST: Int(2, 1, 20),
  ARGON2_PARALLELISM: Int(1, 1, 16),
  PASSWORD_HASH_QUEUE_TIMEOUT_MS: Int(10_000, 100, 600_000),
  REQUIRE_EMAIL_VERIFICATION: Bool(false),
  SUPABASE_JWT_SECRET: Type.Optional(Str()),
  OFFBASE_ANON_KEY: Type.Optional(Str()),

  SMTP_URL: Type.Optional(Str({ pattern: '^smtps?://' })),
  MAIL_FROM: Type.String({ default: 'offbase <no-reply@localhost>' }),

  RATE_LIMIT_ENABLED: Bool(true),
  RATE_LIMIT_WINDOW_S: Int(60, 1, 86_400),
  RATE_LIMIT_LOGIN_PER_IP: Int(30, 1, 1_000_000),
  RATE_LIMIT_LOGIN_PER_EMAIL: Int(10, 1, 1_000_000),
  RATE_LIMIT_REGISTER_PER_IP: Int(10, 1, 1_000_000),
  RATE_LIMIT_REFRESH_PER_IP: Int(60, 1, 1_000_000),
  RATE_LIMIT_FORGOT_PER_IP: Int(5, 1, 1_000_000),
  RATE_LIMIT_FORGOT_PER_EMAIL: Int(3, 1, 1_000_000),
  RATE_LIMIT_VERIFY_PER_IP: Int(20, 1, 1_000_000),

  METRICS_TOKEN: Type.Optional(Type.String({ minLength: 16 })),
  METRICS_PORT: Type.Optional(Int(undefined, 1, 65535)),
});

type Env = Static<typeof EnvSchema>;

export type SslMode = Env['DB_SSL'];

export interface DatabaseConfig {
  /** null: no database configured; development falls back to the embedded one. */
  url: string | null;
  readUrl: string | null;
  migrationUrl: string | null;
  poolMax: number;
  idleTimeoutS: number;
  maxLifetimeS: number;
  connectTimeoutS: number;
  statementTimeoutMs: number;
  /** Client-side deadline per query (0: none); past it the connection is destroyed. */
  queryDeadlineMs: number;
  prepare: boolean;
  ssl: SslMode;
  sslCa: string | null;
  iamAuth: boolean;
  awsRegion: string | null;
  migrateOnBoot: boolean;
  /** How long migrations wait for an unreachable database (a failover) before giving up. */
  bootWaitS: number;
  /** The non-owner role migrations grant the app's rights to (null: none, e.g. one shared role). */
  appRole: string | null;
  embeddedDir: string;
  embeddedPort: number;
}

export interface Config {
  env: Env['NODE_ENV'];
  isProduction: boolean;
  host: string;
  port: number;
  logLevel: Env['LOG_LEVEL'];
  corsOrigins: string[];
  bodyLimit: number;
  shutdownTimeoutMs: number;
  /** The longest any request is in flight: past it, 503 service_unavailable. */
  requestTimeoutMs: number;
  /** Whose X-Forwarded-For to believe (src/lib/trust-proxy.ts). */
  trustProxy: TrustProxy;
  publicUrl: string;
  db: DatabaseConfig;
  auth: {
    jwtSecret: string;
    jwtSecretGenerated: boolean;
    /** Keys that still verify tokens (signed before a rotation); never used to sign. */
    jwtPreviousSecrets: string[];
    issuer: string;
    audience: string;
    accessTokenTtlS: number;
    refreshTokenTtlS: number;
    refreshReuseGraceS: number;
    argon2: { memoryCost: number; timeCost: number; parallelism: number; queueTimeoutMs: number };
    requireEmailVerification: boolean;
    supabaseJwtSecret: string | null;
    anonKey: string | null;
  };
  mail: { smtpUrl: string | null; from: string };
  rateLimit: {
    enabled: boolean;
    windowS: number;
    loginPerIp: number;
    loginPerEmail: number;
    registerPerIp: number;
    refreshPerIp: number;
    forgotPerIp: number;
    forgotPerEmail: number;
    verifyPerIp: number;
  };
  metrics: { token: string | null; port: number | null };
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

function describe(schema: TSchema): string {
  if (schema.anyOf) return `one of ${schema.anyOf.map((s: TSchema) => s.const).join(', ')}`;
  if (schema.type === 'integer') return `an integer from ${schema.minimum} to ${schema.maximum}`;
  if (schema.pattern) return `a value matching ${schema.pattern}`;
  if (schema.minLength) return `at least ${schema.minLength} characters`;
  return 'valid';
}

function parseEnv(source: Record<string, string | undefined>): Env {
  const raw: Record<string, unknown> = {};
  for (const key of Object.keys(EnvSchema.properties)) {
    const value = source[key];
    if (value !== undefined && value !== '') raw[key] = value;
  }
  const env = Value.Convert(EnvSchema, Value.Default(EnvSchema, raw)) as Record<string, unknown>;
  const error = Value.Errors(EnvSchema, env).First();
  if (error) {
    const name = error.path.replace(/^\//, '');
    const schema = EnvSchema.properties[name as keyof Env] as TSchema;
    const secret = /SECRET|PASSWORD|TOKEN|KEY|URL/.test(name);
    const shown = secret ? '' : ` (got ${JSON.stringify(raw[name])})`;
    throw new ConfigError(`${name} must be ${describe(schema)}${shown}`);
  }
  return env as Env;
}

/** How much longer than statement_timeout the client waits before it gives up on a connection. */
export const QUERY_DEADLINE_MARGIN_MS = 2000;

function databaseUrl(env: Env): string | null {
  if (env.DATABASE_URL) return env.DATABASE_URL;
  const parts = [env.DB_HOST, env.DB_NAME, env.DB_USER];
  if (parts.every((p) => p === undefined)) return null;
  for (const name of ['DB_HOST', 'DB_NAME', 'DB_USER'] as const) {
    if (!env[name]) throw new ConfigError(`${name} is required when DB_HOST, DB_NAME or DB_USER is set`);
  }
  const user = encodeURIComponent(env.DB_USER!);
  const password = env.DB_PASSWORD ? `:${encodeURIComponent(env.DB_PASSWORD)}` : '';
  return `postgres://${user}${password}@${env.DB_HOST}:${env.DB_PORT}/${encodeURIComponent(env.DB_NAME!)}`;
}

export interface LoadOptions {
  /** false for commands that never touch tokens (migrate): JWT_SECRET may then be absent. */
  requireJwtSecret?: boolean;
}

export function loadConfig(source: Record<string, string | undefined> = process.env, options: LoadOptions = {}): Config {
  const env = parseEnv(source);
  const isProduction = env.NODE_ENV === 'production';
  const url = databaseUrl(env);
  if (isProduction && !url) {
    throw new ConfigError('DATABASE_URL (or DB_HOST, DB_NAME, DB_USER, DB_PASSWORD) is required when NODE_ENV=production');
  }
  if (env.DB_SSL === 'verify-full' && !env.DB_SSL_CA && isProduction) {
    throw new ConfigError('DB_SSL_CA is required when DB_SSL=verify-full');
  }
  if (env.DB_IAM_AUTH === 'true' && env.DB_MAX_LIFETIME_S >= 900) {
    throw new ConfigError('DB_MAX_LIFETIME_S must be below 900 when DB_IAM_AUTH=true (IAM tokens live 15 minutes)');
  }
  const trustProxy = parseTrustProxy(env.TRUST_PROXY);
  if (trustProxy && 'error' in trustProxy) throw new ConfigError(trustProxy.error);
  // The server cancels a statement at DB_STATEMENT_TIMEOUT_MS; the client gives up on the
  // connection only later, when the server could not (frozen, failing over, unreachable).
  const queryDeadlineMs =
    env.DB_QUERY_DEADLINE_MS ?? (env.DB_STATEMENT_TIMEOUT_MS > 0 ? env.DB_STATEMENT_TIMEOUT_MS + QUERY_DEADLINE_MARGIN_MS : env.REQUEST_TIMEOUT_MS);
  if (queryDeadlineMs > 0 && env.DB_STATEMENT_TIMEOUT_MS > 0 && queryDeadlineMs <= env.DB_STATEMENT_TIMEOUT_MS) {
    throw new ConfigError(`DB_QUERY_DEADLINE_MS must be above DB_STATEMENT_TIMEOUT_MS (${env.DB_STATEMENT_TIMEOUT_MS}), or 0 for none`);
  }
  let jwtSecret = env.JWT_SECRET ?? '';
  let jwtSecretGenerated = false;
  if (Buffer.byteLength(jwtSecret) < 32) {
    if ((isProduction && options.requireJwtSecret !== false) || jwtSecret) throw new ConfigError('JWT_SECRET must be at least 32 bytes');
    jwtSecret = randomBytes(48).toString('base64url');
    jwtSecretGenerated = true;
  }

  const jwtPreviousSecrets = (env.JWT_PREVIOUS_SECRETS ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (jwtPreviousSecrets.some((s) => Buffer.byteLength(s) < 32)) throw new ConfigError('JWT_PREVIOUS_SECRETS must be a comma-separated list of keys of at least 32 bytes each');

  return {
    env: env.NODE_ENV,
    isProduction,
    host: env.HOST ?? (isProduction ? '0.0.0.0' : '127.0.0.1'),
    port: env.PORT,
    logLevel: env.LOG_LEVEL,
    corsOrigins: env.CORS_ORIGINS.split(',')
      .map((o) => o.trim())
      .filter(Boolean),
    bodyLimit: env.BODY_LIMIT_BYTES,
    shutdownTimeoutMs: env.SHUTDOWN_TIMEOUT_MS,
    requestTimeoutMs: env.REQUEST_TIMEOUT_MS,
    trustProxy,
    publicUrl: env.PUBLIC_URL.replace(/\/$/, ''),
    db: {
      url,
      readUrl: env.DATABASE_READ_URL ?? null,
      migrationUrl: env.DATABASE_MIGRATION_URL ?? null,
      poolMax: env.DB_POOL_MAX,
      idleTimeoutS: env.DB_IDLE_TIMEOUT_S,
      maxLifetimeS: env.DB_MAX_LIFETIME_S,
      connectTimeoutS: env.DB_CONNECT_TIMEOUT_S,
      statementTimeoutMs: env.DB_STATEMENT_TIMEOUT_MS,
      queryDeadlineMs,
      prepare: env.DB_PREPARE === 'true',
      ssl: env.DB_SSL,
      sslCa: env.DB_SSL_CA ?? null,
      iamAuth: env.DB_IAM_AUTH === 'true',
      awsRegion: env.AWS_REGION ?? null,
      migrateOnBoot: env.MIGRATE_ON_BOOT === 'true',
      bootWaitS: env.DB_BOOT_WAIT_S,
      appRole: env.DB_APP_ROLE ?? null,
      embeddedDir: env.EMBEDDED_DB_DIR,
      embeddedPort: env.EMBEDDED_DB_PORT,
    },
    auth: {
      jwtSecret,
      jwtSecretGenerated,
      jwtPreviousSecrets,
      issuer: env.JWT_ISSUER,
      audience: env.JWT_AUDIENCE,
      accessTokenTtlS: env.ACCESS_TOKEN_TTL,
      refreshTokenTtlS: env.REFRESH_TOKEN_TTL,
      refreshReuseGraceS: env.REFRESH_REUSE_GRACE_S,
      argon2: {
        memoryCost: env.ARGON2_MEMORY_KIB,
        timeCost: env.ARGON2_TIME_COST,
        parallelism: env.ARGON2_PARALLELISM,
        queueTimeoutMs: env.PASSWORD_HASH_QUEUE_TIMEOUT_MS,
      },
      requireEmailVerification: env.REQUIRE_EMAIL_VERIFICATION === 'true',
      supabaseJwtSecret: env.SUPABASE_JWT_SECRET ?? null,
      anonKey: env.OFFBASE_ANON_KEY ?? null,
    },
    mail: { smtpUrl: env.SMTP_URL ?? null, from: env.MAIL_FROM },
    rateLimit: {
      enabled: env.RATE_LIMIT_ENABLED === 'true',
      windowS: env.RATE_LIMIT_WINDOW_S,
      loginPerIp: env.RATE_LIMIT_LOGIN_PER_IP,
      loginPerEmail: env.RATE_LIMIT_LOGIN_PER_EMAIL,
      registerPerIp: env.RATE_LIMIT_REGISTER_PER_IP,
      refreshPerIp: env.RATE_LIMIT_REFRESH_PER_IP,
      forgotPerIp: env.RATE_LIMIT_FORGOT_PER_IP,
      forgotPerEmail: env.RATE_LIMIT_FORGOT_PER_EMAIL,
      verifyPerIp: env.RATE_LIMIT_VERIFY_PER_IP,
    },
    metrics: { token: env.METRICS_TOKEN ?? null, port: env.METRICS_PORT ?? null },
  };
}
