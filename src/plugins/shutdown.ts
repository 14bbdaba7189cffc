import fp from 'fastify-plugin';
import { AppError } from '../errors/app-error.js';

// During shutdown every response carries `Connection: close`, so keep-alive clients do not
// hold the server open past SHUTDOWN_TIMEOUT_MS; new sockets are refused. A request that
// still arrives on an open keep-alive socket gets 503 service_unavailable with Retry-After,
// thrown here so it goes through the route's error handler and comes out in that surface's
// shape (offbase's, GoTrue's on /auth/v1, PostgREST's on /rest/v1). Requests already in
// flight complete normally.
export default fp(
  async (app) => {
    let closing = false;
    app.addHook('preClose', async () => {
      closing = true;
    });
    // Callback style: no promise per request on the hot path.
    app.addHook('onRequest', (_request, _reply, done) => {
      if (closing) done(new AppError('service_unavailable', { message: 'The server is shutting down; retry the request.', retryAfterS: 1 }));
      else done();
    });
    app.addHook('onSend', (_request, reply, payload, done) => {
      if (closing) reply.header('connection', 'close');
      done(null, payload);
    });
  },
  { name: 'shutdown' },
);
