import fp from 'fastify-plugin';

// During shutdown, responses to requests already in flight carry `Connection: close`, so
// keep-alive clients do not hold the server open past SHUTDOWN_TIMEOUT_MS; new requests on
// old sockets get 503 from fastify (return503OnClosing) and new sockets are refused.
export default fp(
  async (app) => {
    let closing = false;
    app.addHook('preClose', async () => {
      closing = true;
    });
    app.addHook('onSend', async (_request, reply) => {
      if (closing) reply.header('connection', 'close');
    });
  },
  { name: 'shutdown' },
);
