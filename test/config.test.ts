import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { TSchema } from '@sinclair/typebox';
import { describe, expect, it } from 'vitest';
import { ConfigError, EnvSchema, loadConfig } from '../src/config.js';

const prod = { NODE_ENV: 'production', DATABASE_URL: 'postgres://app@db:5432/app', JWT_SECRET: 'x'.repeat(32), MFA_ENCRYPTION_KEY: 'm'.repeat(32) };

function errorOf(env: Record<string, string>): string {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected a configuration error');
}

describe('configuration', () => {
  it('has development defaults and generates a dev JWT secret', () => {
    const c = loadConfig({});
    expect(c.port).toBe(3000);
    expect(c.db.url).toBeNull();
    expect(c.db.poolMax).toBe(10);
    expect(c.db.prepare).toBe(true);
    expect(c.shutdownTimeoutMs).toBe(10_000);
    expect(c.auth.jwtSecretGenerated).toBe(true);
    expect(Buffer.byteLength(c.auth.jwtSecret)).toBeGreaterThanOrEqual(32);
    expect(c.auth.argon2).toEqual({ memoryCost: 19_456, timeCost: 2, parallelism: 1, queueTimeoutMs: 10_000 });
    expect(c.requestTimeoutMs).toBe(30_000);
  });

  it('sets the client-side query deadline past the statement timeout', () => {
    expect(loadConfig({}).db.queryDeadlineMs).toBe(17_000);
    expect(loadConfig({ DB_STATEMENT_TIMEOUT_MS: '2000' }).db.queryDeadlineMs).toBe(4000);
    expect(loadConfig({ DB_STATEMENT_TIMEOUT_MS: '0', REQUEST_TIMEOUT_MS: '20000' }).db.queryDeadlineMs).toBe(20_000);
    expect(loadConfig({ DB_QUERY_DEADLINE_MS: '20000' }).db.queryDeadlineMs).toBe(20_000);
    expect(loadConfig({ DB_QUERY_DEADLINE_MS: '0' }).db.queryDeadlineMs).toBe(0);
    expect(errorOf({ DB_QUERY_DEADLINE_MS: '15000' })).toMatch(/^DB_QUERY_DEADLINE_MS must be above DB_STATEMENT_TIMEOUT_MS \(15000\)/);
  });

  it('builds the URL from the DB_* variables ECS injects from Secrets Manager', () => {
    const c = loadConfig({ DB_HOST: 'db.example', DB_PORT: '6543', DB_NAME: 'app', DB_USER: 'off base', DB_PASSWORD: 'p@ss:/w' });
    expect(c.db.url).toBe('postgres://off%20base:p%40ss%3A%2Fw@db.example:6543/app');
  });

  it('reads pool, SSL and CORS settings', () => {
    const c = loadConfig({ DB_POOL_MAX: '25', DB_PREPARE: 'false', DB_SSL: 'require', CORS_ORIGINS: 'https://a.example, https://b.example' });
    expect(c.db.poolMax).toBe(25);
    expect(c.db.prepare).toBe(false);
    expect(c.db.ssl).toBe('require');
    expect(c.corsOrigins).toEqual(['https://a.example', 'https://b.example']);
  });

  it.each([
    [{ PORT: 'abc' }, /^PORT must be an integer/],
    [{ PORT: '70000' }, /^PORT must be/],
    [{ LOG_LEVEL: 'loud' }, /^LOG_LEVEL must be one of/],
    [{ DB_SSL: 'maybe' }, /^DB_SSL must be one of disable, require, verify-full/],
    [{ DB_PREPARE: 'no' }, /^DB_PREPARE must be one of true, false/],
    [{ DB_POOL_MAX: '0' }, /^DB_POOL_MAX must be/],
    [{ DATABASE_URL: 'mysql://x@y/z' }, /^DATABASE_URL must be/],
    [{ DB_HOST: 'db' }, /^DB_NAME is required/],
    [{ JWT_SECRET: 'short' }, /^JWT_SECRET must be at least 32 bytes/],
    [{ NODE_ENV: 'staging' }, /^NODE_ENV must be one of/],
    [{ REQUEST_TIMEOUT_MS: '10' }, /^REQUEST_TIMEOUT_MS must be an integer from 1000/],
    [{ DB_QUERY_DEADLINE_MS: 'soon' }, /^DB_QUERY_DEADLINE_MS must be an integer/],
    [{ PASSWORD_HASH_QUEUE_TIMEOUT_MS: '-1' }, /^PASSWORD_HASH_QUEUE_TIMEOUT_MS must be an integer/],
  ])('names the bad variable: %j', (env, message) => {
    expect(errorOf(env as Record<string, string>)).toMatch(message);
  });

  it('never echoes a secret value in the error', () => {
    const message = errorOf({ DATABASE_URL: 'mysql://user:hunter2@db/app' });
    expect(message).not.toContain('hunter2');
  });

  it('refuses to start in production without a database or with a weak JWT secret', () => {
    expect(errorOf({ NODE_ENV: 'production', JWT_SECRET: 'x'.repeat(32) })).toMatch(/^DATABASE_URL .* is required when NODE_ENV=production/);
    expect(errorOf({ ...prod, JWT_SECRET: '' })).toMatch(/^JWT_SECRET must be at least 32 bytes/);
    expect(loadConfig(prod).host).toBe('0.0.0.0');
  });

  it('TRUST_PROXY: off by default; a hop count or a list of proxy addresses/CIDRs; never a bare true', () => {
    expect(loadConfig({}).trustProxy).toBe(false);
    expect(loadConfig({ TRUST_PROXY: 'false' }).trustProxy).toBe(false);
    expect(loadConfig({ TRUST_PROXY: '0' }).trustProxy).toBe(false);
    expect(loadConfig({ TRUST_PROXY: '1' }).trustProxy).toEqual({ hops: 1 });
    expect(loadConfig({ TRUST_PROXY: '10.0.0.0/16, 192.168.1.7,fd00::/8' }).trustProxy).toEqual({ addresses: ['10.0.0.0/16', '192.168.1.7', 'fd00::/8'] });
    const refused = errorOf({ TRUST_PROXY: 'true' });
    expect(refused).toMatch(/^TRUST_PROXY=true is refused: .*clients pick their own IP.*1 behind an ALB/);
    expect(refused).not.toContain('\n');
    for (const bad of ['11', 'yes', '10.0.0.0/33', '10.0.0.1,', '300.1.1.1', '-1']) expect(errorOf({ TRUST_PROXY: bad }), bad).toMatch(/^TRUST_PROXY must be a hop count .* \(got "/);
  });

  it('migrations need no JWT secret; boot wait and app role are validated', () => {
    const { JWT_SECRET: _unused, ...noJwt } = prod;
    expect(errorOf(noJwt)).toMatch(/^JWT_SECRET must be at least 32 bytes/);
    expect(loadConfig(noJwt, { requireJwtSecret: false }).db.url).toBe(prod.DATABASE_URL);
    // A weak key given explicitly is still refused.
    expect(() => loadConfig({ ...prod, JWT_SECRET: 'short' }, { requireJwtSecret: false })).toThrow(/JWT_SECRET must be at least 32 bytes/);
    expect(loadConfig(prod).db).toMatchObject({ bootWaitS: 30, appRole: null });
    expect(loadConfig({ ...prod, DB_BOOT_WAIT_S: '0', DB_APP_ROLE: 'offbase_app' }).db).toMatchObject({ bootWaitS: 0, appRole: 'offbase_app' });
    expect(errorOf({ ...prod, DB_BOOT_WAIT_S: '-1' })).toMatch(/^DB_BOOT_WAIT_S must be an integer from 0 to 900/);
    expect(errorOf({ ...prod, DB_APP_ROLE: 'app; drop table users' })).toMatch(/^DB_APP_ROLE must be a value matching/);
  });

  it('keeps IAM auth connections under the 15-minute token life', () => {
    expect(errorOf({ ...prod, DB_IAM_AUTH: 'true' })).toMatch(/^DB_MAX_LIFETIME_S must be below 900/);
    expect(loadConfig({ ...prod, DB_IAM_AUTH: 'true', DB_MAX_LIFETIME_S: '600' }).db.iamAuth).toBe(true);
  });

  it('describes every variable in one line (the source of generated docs)', () => {
    for (const [name, schema] of Object.entries(EnvSchema.properties)) {
      const description: unknown = (schema as { description?: unknown }).description;
      expect(typeof description === 'string' && description.length > 0 && !description.includes('\n'), name).toBe(true);
    }
  });

  it('marks exactly what production refuses to start without', () => {
    const marked = Object.entries(EnvSchema.properties)
      .filter(([, schema]) => (schema as TSchema).requiredInProduction)
      .map(([name]) => name);
    expect(marked.sort()).toEqual(['DATABASE_URL', 'JWT_SECRET', 'MFA_ENCRYPTION_KEY']);
    for (const name of marked) {
      const { [name as keyof typeof prod]: _dropped, ...without } = prod;
      expect(() => loadConfig(without), name).toThrow(ConfigError);
    }
  });

  it('turns tracing on only with an OTLP endpoint, and reads the standard OTEL_* variables', () => {
    expect(loadConfig({}).tracing).toEqual({ tracesUrl: null, headers: {}, serviceName: 'offbase', sampler: 'parentbased_always_on', samplerRatio: 1 });
    expect(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/' }).tracing.tracesUrl).toBe('http://collector:4318/v1/traces');
    const c = loadConfig({
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318',
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://traces.example.com/ingest',
      OTEL_EXPORTER_OTLP_HEADERS: 'x-api-key=abc%3D1, x-team = core',
      OTEL_SERVICE_NAME: 'offbase-eu',
      OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
      OTEL_TRACES_SAMPLER_ARG: '0.25',
    }).tracing;
    expect(c).toEqual({ tracesUrl: 'https://traces.example.com/ingest', headers: { 'x-api-key': 'abc=1', 'x-team': 'core' }, serviceName: 'offbase-eu', sampler: 'parentbased_traceidratio', samplerRatio: 0.25 });
    expect(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_SDK_DISABLED: 'true' }).tracing.tracesUrl).toBeNull();
    expect(errorOf({ OTEL_TRACES_SAMPLER_ARG: '2' })).toBe('OTEL_TRACES_SAMPLER_ARG must be a number from 0 to 1 (got 2)');
    // Endpoints and headers may carry credentials: never echoed.
    expect(errorOf({ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' })).toBe('OTEL_EXPORTER_OTLP_ENDPOINT must be a value matching ^https?://');
    expect(errorOf({ OTEL_EXPORTER_OTLP_HEADERS: 'authorization' })).toMatch(/^OTEL_EXPORTER_OTLP_HEADERS must be comma-separated key=value pairs/);
    expect(errorOf({ OTEL_EXPORTER_OTLP_HEADERS: 'a=%E0%A4%A' })).not.toContain('%E0');
  });

  it("the README's configuration table names every EnvSchema variable, and only those", () => {
    const readme = readFileSync(path.join(import.meta.dirname, '..', 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('\n## Configuration\n'), readme.indexOf('\n## Migrations\n'));
    const firstCells = section
      .split('\n')
      .filter((line) => line.startsWith('| `'))
      .map((line) => line.split('|')[1]!);
    const documented = new Set(firstCells.flatMap((cell) => [...cell.matchAll(/`([A-Z][A-Z0-9_]*)`/g)].map((m) => m[1]!)));
    expect(firstCells.length).toBeGreaterThan(40);
    expect([...documented].sort()).toEqual(Object.keys(EnvSchema.properties).sort());
  });
});
