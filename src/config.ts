import { randomBytes } from 'node:crypto';
import { Type, type Static, type TLiteral, type TSchema, type TUnion } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { parseTrustProxy } from './lib/trust-proxy.js';

// Environment variables, validated once at boot. EnvSchema is the one declaration: it parses
// the environment, gives every variable its default, rule and one-line description, and the
// Config type follows from it and from configFrom() below. The README's configuration table
// says more about each; a bad variable stops the process with a single line naming it.
// `requiredInProduction` (true, or a note naming the alternative) marks what production
// refuses to start without; `npm run env:example` writes .env.example from all of this.

const Bool = (def: boolean, description: string) =>
  Type.Union([Type.Literal('true'), Type.Literal('false')], { default: String(def), description });
const Int = (def: number | undefined, min: number, max: number, description: string) =>
  Type.Integer({ minimum: min, maximum: max, description, ...(def === undefined ? {} : { default: def }) });
const Str = (description: string, extra: Record<string, unknown> = {}) => Type.String({ minLength: 1, description, ...extra });
const Text = (def: string, description: string) => Type.String({ default: def, description });
type Literals<T extends readonly string[]> = { -readonly [K in keyof T]: TLiteral<T[K]> };
/** One of the listed strings; the cast keeps each literal in the static type. */
function OneOf<const T extends readonly string[]>(values: T, def: T[number], description: string): TUnion<Literals<T>> {
  return Type.Union(values.map((v) => Type.Literal(v)), { default: def, description }) as unknown as TUnion<Literals<T>>;
}
const POSTGRES_URL = { pattern: '^postgres(ql)?://' };
const HTTP_URL = { pattern: '^https?://' };

export const EnvSchema = Type.Object({
  NODE_ENV: OneOf(['development', 'test', 'production'], 'development', 'Production requires a database and JWT_SECRET, and never falls back to the embedded database.'),
  HOST: Type.Optional(Str('Listen address (default 0.0.0.0 in production, else 127.0.0.1).')),
  PORT: Int(3000, 0, 65535, 'Listen port.'),
  LOG_LEVEL: OneOf(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], 'info', 'Log level.'),
  LOG_PRETTY: Bool(false, 'Human-readable logs (pino-pretty) instead of JSON lines; npm run dev sets it; never in production.'),
  CORS_ORIGINS: Text('', 'Comma-separated allowlist of browser origins (never *).'),
  BODY_LIMIT_BYTES: Int(1_048_576, 1024, 64 * 1_048_576, 'Request body limit in bytes; the batch route allows 16 MiB.'),
  SHUTDOWN_TIMEOUT_MS: Int(10_000, 100, 120_000, 'Grace period after SIGTERM/SIGINT.'),
  REQUEST_TIMEOUT_MS: Int(30_000, 1000, 600_000, 'The longest any request is in flight: past it, 503 service_unavailable.'),
  EXPORT_TIMEOUT_MS: Int(1_800_000, 1000, 86_400_000, 'The longest GET /auth/me/export may stream once it has started, in place of REQUEST_TIMEOUT_MS: past it the download is cut off.'),
  TRUST_PROXY: Text('false', 'Whose X-Forwarded-For to believe: a hop count or a comma-separated list of proxy IPs/CIDRs.'),
  PUBLIC_URL: Text('http://localhost:3000', 'Base URL used in emailed links.'),

  DATABASE_URL: Type.Optional(Str('postgres://user:pass@host:5432/db.', { ...POSTGRES_URL, requiredInProduction: 'or DB_HOST, DB_NAME, DB_USER, DB_PASSWORD' })),
  DATABASE_READ_URL: Type.Optional(Str('Optional read replica for plain reads.', POSTGRES_URL)),
  DATABASE_MIGRATION_URL: Type.Optional(Str('Optional direct endpoint for migrations behind RDS Proxy / PgBouncer.', POSTGRES_URL)),
  DB_HOST: Type.Optional(Str('Database host, when DATABASE_URL is not set (the shape ECS injects from Secrets Manager).')),
  DB_PORT: Int(5432, 1, 65535, 'Database port, with DB_HOST.'),
  DB_NAME: Type.Optional(Str('Database name, with DB_HOST.')),
  DB_USER: Type.Optional(Str('Database user, with DB_HOST.')),
  DB_PASSWORD: Type.Optional(Type.String({ description: 'Database password, with DB_HOST.' })),
  DB_POOL_MAX: Int(10, 1, 1000, "Connections in this process's pool."),
  DB_IDLE_TIMEOUT_S: Int(30, 0, 86_400, 'Close connections idle this long (seconds).'),
  DB_MAX_LIFETIME_S: Int(1800, 0, 86_400, 'Recycle connections after this long (seconds; below 900 with IAM auth).'),
  DB_CONNECT_TIMEOUT_S: Int(10, 1, 300, 'Give up connecting after this long (seconds).'),
  DB_STATEMENT_TIMEOUT_MS: Int(15_000, 0, 3_600_000, 'Server-side statement_timeout of every pooled connection (0: none).'),
  DB_QUERY_DEADLINE_MS: Type.Optional(Int(undefined, 0, 3_600_000, 'Client-side deadline per query (default statement timeout + 2000; 0: none).')),
  DB_PREPARE: Bool(true, 'false disables prepared statements, for RDS Proxy / PgBouncer transaction pooling.'),
  DB_PREPARED_STATEMENTS_MAX: Int(
    500,
    0,
    100_000,
    'Distinct statements a task prepares; each connection holds at most this many (~100 KB of PostgreSQL memory each). Past it, new statements run unprepared (planned each time), so clients sending ever new /rest/v1 query shapes cannot grow memory without bound.',
  ),
  DB_SSL: OneOf(['disable', 'require', 'verify-full'], 'disable', 'TLS to the database: disable, require (encrypted, unverified) or verify-full.'),
  DB_SSL_CA: Type.Optional(Str('CA bundle path for verify-full (required with it in production).')),
  DB_IAM_AUTH: Bool(false, 'Use a fresh RDS IAM auth token as the password of each new connection.'),
  AWS_REGION: Type.Optional(Str('Region for IAM auth tokens (default: the SDK default).')),
  MIGRATE_ON_BOOT: Bool(true, 'Apply pending migrations before listening.'),
  DB_BOOT_WAIT_S: Int(30, 0, 900, 'How long migrations wait for an unreachable database before exiting (seconds).'),
  DB_APP_ROLE: Type.Optional(Str("After migrating, grant this non-owner role the app's rights.", { pattern: '^[a-z_][a-z0-9_]{0,62}$' })),
  EMBEDDED_DB_DIR: Text('.data/postgres', 'Development only: where the embedded PostgreSQL keeps its data.'),
  EMBEDDED_DB_PORT: Int(54329, 1, 65535, "Development only: the embedded PostgreSQL's port."),

  JWT_SECRET: Type.Optional(Type.String({ description: 'HS256 secret for access tokens, at least 32 bytes; generated per start in development.', requiredInProduction: true })),
  JWT_PREVIOUS_SECRETS: Type.Optional(Type.String({ description: 'Comma-separated previous signing keys that still verify, never sign.' })),
  JWT_ISSUER: Text('offbase', 'iss of access tokens.'),
  JWT_AUDIENCE: Text('authenticated', 'aud of access tokens.'),
  ACCESS_TOKEN_TTL: Int(900, 30, 86_400, 'Access token lifetime (seconds).'),
  REFRESH_TOKEN_TTL: Int(30 * 86_400, 300, 365 * 86_400, 'Session (refresh token family) lifetime (seconds).'),
  REFRESH_REUSE_GRACE_S: Int(10, 0, 300, 'Window in which a just-rotated refresh token may be presented again without counting as reuse (seconds).'),
  ARGON2_MEMORY_KIB: Int(19_456, 8192, 1_048_576, 'argon2id memory cost (KiB).'),
  ARGON2_TIME_COST: Int(2, 1, 20, 'argon2id time cost (iterations).'),
  ARGON2_PARALLELISM: Int(1, 1, 16, 'argon2id parallelism.'),
  PASSWORD_HASH_QUEUE_TIMEOUT_MS: Int(10_000, 100, 600_000, 'A password hash that waited this long for a free core never runs: 503 instead.'),
  REQUIRE_EMAIL_VERIFICATION: Bool(false, 'Refuse login until the email is verified.'),
  SUPABASE_JWT_SECRET: Type.Optional(Str('During cut-over, also accept access tokens issued by the old Supabase project.')),
  SUPABASE_JWKS: Type.Optional(Str("During cut-over, also accept old-project tokens signed by these asymmetric keys: inline JWKS JSON, a file path, or the project's JWKS URL (fetched at boot).")),
  SUPABASE_JWKS_TIMEOUT_MS: Int(5000, 100, 60_000, 'How long fetching SUPABASE_JWKS from its URL may take, its body included (at boot, and when a token names an unknown kid); a body over 1 MiB is refused without reading the rest.'),
  SUPABASE_JWT_ISSUER: Type.Optional(Str('The iss old-project tokens must carry, e.g. https://<ref>.supabase.co/auth/v1 (unset: not checked).')),
  MFA_ENCRYPTION_KEY: Type.Optional(
    Type.String({ description: 'Key (at least 32 bytes) that encrypts TOTP secrets at rest (AES-256-GCM); derived from a development constant outside production.', requiredInProduction: true }),
  ),
  MFA_PREVIOUS_ENCRYPTION_KEYS: Type.Optional(Type.String({ description: 'Comma-separated previous MFA_ENCRYPTION_KEY values: they still decrypt, rows are re-encrypted with the current key on use.' })),
  MFA_ISSUER: Type.Optional(Str('Issuer shown in authenticator apps (default: the host of PUBLIC_URL).')),
  OFFBASE_ANON_KEY: Type.Optional(Str('The apikey supabase-js clients send to the compatibility surface.')),

  SMTP_URL: Type.Optional(Str('smtp(s)://user:pass@host:port; without it, mail is recorded in memory and logged.', { pattern: '^smtps?://' })),
  MAIL_FROM: Text('offbase <no-reply@localhost>', 'Sender address.'),

  RATE_LIMIT_ENABLED: Bool(true, 'Rate limits on auth endpoints.'),
  RATE_LIMIT_WINDOW_S: Int(60, 1, 86_400, 'Window of every rate limit (seconds).'),
  RATE_LIMIT_LOGIN_PER_IP: Int(30, 1, 1_000_000, 'Login attempts per window and IP.'),
  RATE_LIMIT_LOGIN_PER_EMAIL: Int(10, 1, 1_000_000, 'Login attempts per window and email.'),
  RATE_LIMIT_REGISTER_PER_IP: Int(10, 1, 1_000_000, 'Registrations per window and IP.'),
  RATE_LIMIT_REFRESH_PER_IP: Int(60, 1, 1_000_000, 'Refreshes per window and IP.'),
  RATE_LIMIT_FORGOT_PER_IP: Int(5, 1, 1_000_000, 'Password-reset requests per window and IP.'),
  RATE_LIMIT_FORGOT_PER_EMAIL: Int(3, 1, 1_000_000, 'Password-reset requests per window and email.'),
  RATE_LIMIT_VERIFY_PER_IP: Int(20, 1, 1_000_000, 'Email verification attempts per window and IP.'),
  RATE_LIMIT_MFA_PER_FACTOR: Int(5, 1, 1_000_000, 'MFA code attempts (TOTP or recovery) per window and factor.'),
  RATE_LIMIT_MFA_PER_USER: Int(10, 1, 1_000_000, 'MFA code attempts per window and user, over all factors.'),

  METRICS_TOKEN: Type.Optional(Type.String({ minLength: 16, description: 'Serve /metrics on the main port to holders of this bearer token.' })),
  METRICS_PORT: Type.Optional(Int(undefined, 1, 65535, 'Serve /metrics on a separate port instead.')),

  OTEL_EXPORTER_OTLP_ENDPOINT: Type.Optional(Str('OTLP/HTTP collector base URL (traces go to <url>/v1/traces); tracing is off unless this or the next is set.', HTTP_URL)),
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: Type.Optional(Str('Full OTLP/HTTP traces URL, used as is instead of OTEL_EXPORTER_OTLP_ENDPOINT.', HTTP_URL)),
  OTEL_EXPORTER_OTLP_HEADERS: Type.Optional(Str('Headers for the collector, comma-separated key=value pairs (e.g. an API key).')),
  OTEL_SERVICE_NAME: Text('offbase', 'service.name of the traces.'),
  OTEL_TRACES_SAMPLER: OneOf(
    ['always_on', 'always_off', 'traceidratio', 'parentbased_always_on', 'parentbased_always_off', 'parentbased_traceidratio'],
    'parentbased_always_on',
    "Which requests are traced; parentbased_* follow the caller's traceparent decision.",
  ),
  OTEL_TRACES_SAMPLER_ARG: Type.Number({ minimum: 0, maximum: 1, default: 1, description: 'Sampled fraction for the traceidratio samplers.' }),
  OTEL_SDK_DISABLED: Bool(false, 'true: no tracing even with an endpoint set.'),
});

export type Env = Static<typeof EnvSchema>;

export type SslMode = Env['DB_SSL'];

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** What a variable must be, in words: error messages and the generated .env.example use it. */
export function describeRule(schema: TSchema): string {
  if (schema.anyOf) return `one of ${schema.anyOf.map((s: TSchema) => s.const).join(', ')}`;
  if (schema.type === 'integer') return `an integer from ${schema.minimum} to ${schema.maximum}`;
  if (schema.type === 'number') return `a number from ${schema.minimum} to ${schema.maximum}`;
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
    const secret = /SECRET|PASSWORD|TOKEN|KEY|URL|ENDPOINT|HEADERS/.test(name);
    const shown = secret ? '' : ` (got ${JSON.stringify(raw[name])})`;
    throw new ConfigError(`${name} must be ${describeRule(schema)}${shown}`);
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

/** The OTLP traces URL and headers, as the OTEL_* specification reads them. */
function tracingTarget(env: Env): { tracesUrl: string | null; otlpHeaders: Record<string, string> } {
  const base = env.OTEL_EXPORTER_OTLP_ENDPOINT;
  const url = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? (base ? `${base.replace(/\/+$/, '')}/v1/traces` : null);
  const otlpHeaders: Record<string, string> = Object.create(null);
  for (const pair of (env.OTEL_EXPORTER_OTLP_HEADERS ?? '').split(',')) {
    const at = pair.indexOf('=');
    if (!pair.trim()) continue;
    try {
      if (at <= 0) throw new URIError();
      otlpHeaders[decodeURIComponent(pair.slice(0, at).trim())] = decodeURIComponent(pair.slice(at + 1).trim());
    } catch {
      throw new ConfigError('OTEL_EXPORTER_OTLP_HEADERS must be comma-separated key=value pairs (values percent-encoded)');
    }
  }
  return { tracesUrl: env.OTEL_SDK_DISABLED === 'true' ? null : url, otlpHeaders };
}

export interface LoadOptions {
  /** false for commands that never touch tokens (migrate): JWT_SECRET may then be absent. */
  requireJwtSecret?: boolean;
}

const DEVELOPMENT_MFA_KEY = 'offbase-development-only-mfa-encryption-key';

/** The values loadConfig works out from several variables (or checks across them). */
function derive(env: Env, options: LoadOptions) {
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
  const mfaKey = env.MFA_ENCRYPTION_KEY ?? '';
  if (Buffer.byteLength(mfaKey) < 32 && (mfaKey || (isProduction && options.requireJwtSecret !== false))) {
    throw new ConfigError('MFA_ENCRYPTION_KEY must be at least 32 bytes (required when NODE_ENV=production)');
  }
  const mfaPreviousKeys = (env.MFA_PREVIOUS_ENCRYPTION_KEYS ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (mfaPreviousKeys.some((s) => Buffer.byteLength(s) < 32)) throw new ConfigError('MFA_PREVIOUS_ENCRYPTION_KEYS must be a comma-separated list of keys of at least 32 bytes each');
  // Outside production a fixed development key (so factors survive a restart of `npm start`);
  // production never gets here without MFA_ENCRYPTION_KEY.
  const mfa = { encryptionKey: mfaKey || DEVELOPMENT_MFA_KEY, previousKeys: mfaPreviousKeys };
  return { isProduction, url, trustProxy, queryDeadlineMs, jwtSecret, jwtSecretGenerated, jwtPreviousSecrets, mfa, ...tracingTarget(env) };
}

function hostOf(url: string): string {
  try {
    return new URL(url).host || 'offbase';
  } catch {
    return 'offbase';
  }
}

/** The variables as the app reads them. Its return type is Config. */
function configFrom(env: Env, d: ReturnType<typeof derive>) {
  return {
    env: env.NODE_ENV,
    isProduction: d.isProduction,
    host: env.HOST ?? (d.isProduction ? '0.0.0.0' : '127.0.0.1'),
    port: env.PORT,
    logLevel: env.LOG_LEVEL,
    /** Pretty-printed logs (development): production always writes JSON lines, whatever LOG_PRETTY says. */
    logPretty: env.LOG_PRETTY === 'true' && !d.isProduction,
    corsOrigins: env.CORS_ORIGINS.split(',')
      .map((o) => o.trim())
      .filter(Boolean),
    bodyLimit: env.BODY_LIMIT_BYTES,
    shutdownTimeoutMs: env.SHUTDOWN_TIMEOUT_MS,
    /** The longest any request is in flight: past it, 503 service_unavailable. */
    requestTimeoutMs: env.REQUEST_TIMEOUT_MS,
    /** The account export's own deadline, from its first byte (it streams for as long as the account is large). */
    exportTimeoutMs: env.EXPORT_TIMEOUT_MS,
    /** Whose X-Forwarded-For to believe (src/lib/trust-proxy.ts). */
    trustProxy: d.trustProxy,
    publicUrl: env.PUBLIC_URL.replace(/\/$/, ''),
    db: {
      /** null: no database configured; development falls back to the embedded one. */
      url: d.url,
      readUrl: env.DATABASE_READ_URL ?? null,
      migrationUrl: env.DATABASE_MIGRATION_URL ?? null,
      poolMax: env.DB_POOL_MAX,
      idleTimeoutS: env.DB_IDLE_TIMEOUT_S,
      maxLifetimeS: env.DB_MAX_LIFETIME_S,
      connectTimeoutS: env.DB_CONNECT_TIMEOUT_S,
      statementTimeoutMs: env.DB_STATEMENT_TIMEOUT_MS,
      /** Client-side deadline per query (0: none); past it the connection is destroyed. */
      queryDeadlineMs: d.queryDeadlineMs,
      prepare: env.DB_PREPARE === 'true',
      preparedStatementsMax: env.DB_PREPARED_STATEMENTS_MAX,
      ssl: env.DB_SSL,
      sslCa: env.DB_SSL_CA ?? null,
      iamAuth: env.DB_IAM_AUTH === 'true',
      awsRegion: env.AWS_REGION ?? null,
      migrateOnBoot: env.MIGRATE_ON_BOOT === 'true',
      /** How long migrations wait for an unreachable database (a failover) before giving up. */
      bootWaitS: env.DB_BOOT_WAIT_S,
      /** The non-owner role migrations grant the app's rights to (null: none, e.g. one shared role). */
      appRole: env.DB_APP_ROLE ?? null,
      embeddedDir: env.EMBEDDED_DB_DIR,
      embeddedPort: env.EMBEDDED_DB_PORT,
    },
    auth: {
      jwtSecret: d.jwtSecret,
      jwtSecretGenerated: d.jwtSecretGenerated,
      /** Keys that still verify tokens (signed before a rotation); never used to sign. */
      jwtPreviousSecrets: d.jwtPreviousSecrets,
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
      /** Inline JWKS JSON, a file path or an http(s) URL (features/compat/supabase-tokens/jwks.ts). */
      supabaseJwks: env.SUPABASE_JWKS ?? null,
      supabaseJwksTimeoutMs: env.SUPABASE_JWKS_TIMEOUT_MS,
      supabaseJwtIssuer: env.SUPABASE_JWT_ISSUER ?? null,
      anonKey: env.OFFBASE_ANON_KEY ?? null,
      mfa: {
        /** Encrypts TOTP secrets; previous keys only decrypt (rotation). */
        encryptionKey: d.mfa.encryptionKey,
        previousKeys: d.mfa.previousKeys,
        issuer: env.MFA_ISSUER ?? hostOf(env.PUBLIC_URL),
      },
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
      mfaPerFactor: env.RATE_LIMIT_MFA_PER_FACTOR,
      mfaPerUser: env.RATE_LIMIT_MFA_PER_USER,
    },
    metrics: { token: env.METRICS_TOKEN ?? null, port: env.METRICS_PORT ?? null },
    tracing: {
      /** Where spans go (OTLP/HTTP, protobuf); null: tracing off, nothing of OpenTelemetry loaded. */
      tracesUrl: d.tracesUrl,
      headers: d.otlpHeaders,
      serviceName: env.OTEL_SERVICE_NAME,
      sampler: env.OTEL_TRACES_SAMPLER,
      samplerRatio: env.OTEL_TRACES_SAMPLER_ARG,
    },
  };
}

export type Config = ReturnType<typeof configFrom>;
export type DatabaseConfig = Config['db'];

export function loadConfig(source: Record<string, string | undefined> = process.env, options: LoadOptions = {}): Config {
  const env = parseEnv(source);
  return configFrom(env, derive(env, options));
}
