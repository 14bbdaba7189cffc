import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { migrationStatus } from '../../db/migrate.js';
import { ErrorResponse } from '../../errors/responses.js';

const READY_TIMEOUT_MS = 2000;

const Live = Type.Object({ status: Type.Literal('ok') });
const Ready = Type.Object({
  status: Type.Literal('ok'),
  database: Type.Literal('up'),
  migrations: Type.Object({ applied: Type.Integer(), latest: Type.Union([Type.String(), Type.Null()]) }),
});
const NotReady = Type.Object({ status: Type.Literal('error'), database: Type.Literal('down') });
// While shutting down, and on an unexpected failure, health answers like any route.
const failures = { 500: ErrorResponse, 503: ErrorResponse };

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

const health: FastifyPluginAsyncTypebox = async (app) => {
  // Liveness never touches the database: a database outage must not get tasks killed.
  app.get('/health/live', { schema: { summary: 'Liveness: the process answers (never touches the database)', tags: ['health'], response: { 200: Live, ...failures } }, logLevel: 'warn' }, async () => ({
    status: 'ok' as const,
  }));

  // Readiness answers within 2 s either way, so load balancers never hang on it.
  app.get(
    '/health/ready',
    { schema: { summary: 'Readiness: the database answers within 2 s; the migration state', tags: ['health'], response: { ...failures, 200: Ready, 503: Type.Union([NotReady, ErrorResponse]) } }, logLevel: 'warn' },
    async (request, reply) => {
      try {
        const migrations = await withTimeout(migrationStatus(app.database.sql), READY_TIMEOUT_MS);
        return { status: 'ok' as const, database: 'up' as const, migrations };
      } catch (err) {
        request.log.warn({ err: (err as Error).message }, 'readiness check failed');
        return reply.code(503).header('retry-after', '5').send({ status: 'error', database: 'down' });
      }
    },
  );
};

export default health;
