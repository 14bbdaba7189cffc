import type { FastifyInstance } from 'fastify';
import closeWithGrace from 'close-with-grace';
import { buildApp } from './app.js';
import type { Config } from './config.js';
import { createDatabase } from './db/client.js';
import { startEmbeddedDatabase, type EmbeddedDatabase } from './db/embedded.js';
import { runMigrations } from './db/migrate.js';
import { createLogger } from './logger.js';
import { startTracing } from './observability/start.js';
import { startMetricsServer } from './plugins/metrics.js';

export interface StartOptions {
  /** Lets test fixtures add routes to the real process (e.g. a deliberately slow one). */
  extend?: (app: FastifyInstance) => void | Promise<void>;
}

/** config → database → migrate (locked) → app → listen, with a graceful exit on signals. */
export async function startServer(config: Config, options: StartOptions = {}): Promise<FastifyInstance> {
  // First: the logger, the pool and the app check once, when built, whether tracing is on.
  const tracing = await startTracing(config.tracing);
  const log = createLogger(config);
  if (tracing) log.info({ service: config.tracing.serviceName }, 'tracing on: exporting spans over OTLP/HTTP');
  if (config.auth.jwtSecretGenerated) {
    log.warn('JWT_SECRET is not set: using a generated development secret; sessions end when the process restarts');
  }

  let embedded: EmbeddedDatabase | undefined;
  let url = config.db.url;
  if (!url) {
    log.warn('no database configured: starting the embedded development PostgreSQL');
    embedded = await startEmbeddedDatabase(config.db, (msg) => log.info(msg));
    url = embedded.url;
  }

  if (config.db.migrateOnBoot) {
    try {
      await runMigrations(config.db, config.db.migrationUrl ?? url, (msg) => log.info(msg));
    } catch (err) {
      // Never listen on a half-migrated schema: the orchestrator sees the exit and rolls back.
      log.fatal({ err }, 'migration failed; not starting');
      await embedded?.stop();
      process.exit(1);
    }
  }

  const database = await createDatabase(config.db, url);
  const app = await buildApp(config, { database }, { logger: log });
  await options.extend?.(app);

  // Prometheus scrapes on their own port, kept off the load balancer (see docs/deploy-aws.md).
  const metricsServer = config.metrics.port !== null ? await startMetricsServer(app, config) : null;
  if (metricsServer) log.info({ port: metricsServer.port }, 'metrics listening on /metrics');

  closeWithGrace({ delay: config.shutdownTimeoutMs, logger: log }, async ({ signal, err }) => {
    if (err) log.error({ err }, 'fatal error; shutting down');
    else log.info({ signal }, 'shutting down: draining in-flight requests');
    metricsServer?.close();
    await app.close();
    await database.close();
    await embedded?.stop();
    await tracing?.shutdown();
    log.info('shutdown complete');
  });

  await app.listen({ host: config.host, port: config.port });
  return app;
}
