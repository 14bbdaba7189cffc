import { randomUUID } from 'node:crypto';
import fp from 'fastify-plugin';
import type { IncomingMessage } from 'node:http';
import type { Logger } from 'pino';
import { requestChildLogger, withoutRedaction } from '../logger.js';

const SANE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** X-Request-Id from a load balancer or client is kept when it is sane, otherwise replaced. */
export function genReqId(req: IncomingMessage): string {
  const header = req.headers['x-request-id'];
  return typeof header === 'string' && SANE_REQUEST_ID.test(header) ? header : randomUUID();
}

// One log line per request, written when the response is done.
export default fp(
  async (app) => {
    // The line's fields are fixed here, primitives under keys no redact path names: the
    // logger's wildcard paths could never censor any of them, yet would be walked for every
    // value of every line. So this line alone goes through a sibling of the app's logger that
    // skips the walk; every other line (request.log included) is redacted as before.
    const lineLog = withoutRedaction(app.log);
    // request.log, bound to the request id without the redaction walk over it (logger.ts).
    app.setChildLoggerFactory(requestChildLogger);
    // Callback hooks: no promise per request on the hot path.
    app.addHook('onRequest', (request, reply, done) => {
      reply.header('x-request-id', request.id);
      done();
    });
    app.addHook('onResponse', (request, reply, done) => {
      // The request's own logger decides, so a route's logLevel ('warn' on health checks) still
      // silences its line.
      if ((request.log as Logger).isLevelEnabled('info')) {
        lineLog.info(
          {
            // What request.log binds (requestIdLogLabel in app.ts).
            request_id: request.id,
            method: request.method,
            route: request.routeOptions.url ?? null,
            path: request.url.split('?')[0],
            status: reply.statusCode,
            duration_ms: Math.round(reply.elapsedTime * 100) / 100,
            user_id: request.user?.sub,
          },
          'request completed',
        );
      }
      done();
    });
  },
  { name: 'request-log' },
);
