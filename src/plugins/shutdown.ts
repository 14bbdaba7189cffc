import { errorCodes, type FastifyReply } from 'fastify';
import fp from 'fastify-plugin';
import { AppError } from '../errors/app-error.js';

/** One request in flight, in arrival order: every request has the same deadline, so the oldest expires first. */
interface InFlight {
  reply: FastifyReply;
  at: number;
  prev: InFlight | null;
  next: InFlight | null;
}

const kInFlight = Symbol('offbase.inFlight');
type Tracked = { [kInFlight]: InFlight | null };

declare module 'fastify' {
  interface FastifyReply {
    /** Takes this response out of REQUEST_TIMEOUT_MS and gives it a deadline of its own, `ms` from now. */
    streamUntil(ms: number): FastifyReply;
  }
}

/** A reply past its deadline: 503 through its route's error handler, or destroyed once its response has started. */
function timeOut(reply: FastifyReply, ms: number): void {
  const err = new errorCodes.FST_ERR_HANDLER_TIMEOUT(ms, reply.request.routeOptions.url);
  if (reply.raw.headersSent) reply.raw.destroy(err);
  else reply.send(err);
}

/**
 * The requests in flight, for two things.
 *
 * The deadline (REQUEST_TIMEOUT_MS): past it a request is answered 503 service_unavailable
 * through its route's error handler, exactly as Fastify's `handlerTimeout` answers
 * (FST_ERR_HANDLER_TIMEOUT; a response already started is destroyed). Fastify's option costs
 * every request an AbortController, a timer and a `close` listener on the request; here a
 * request is linked into one list when it arrives and unlinked when its response is done, and
 * one timer, armed for the oldest request's deadline, serves them all.
 *
 * Shutdown: during it every response carries `Connection: close`, so keep-alive clients do not
 * hold the server open past SHUTDOWN_TIMEOUT_MS; new sockets are refused. When the close starts,
 * the requests in flight get the header (on the raw response, which Node merges with the
 * headers Fastify writes); Fastify itself sets it on every request that arrives later. Such a
 * request, still arriving on an open keep-alive socket, gets 503 service_unavailable with
 * Retry-After, thrown here so it goes through the route's error handler and comes out in that
 * surface's shape (offbase's, GoTrue's on /auth/v1, PostgREST's on /rest/v1). Requests already
 * in flight complete normally.
 */
export default fp<{ requestTimeoutMs: number }>(
  async (app, { requestTimeoutMs }) => {
    let closing = false;
    let oldest: InFlight | null = null;
    let newest: InFlight | null = null;
    let timer: NodeJS.Timeout | null = null;

    const unlink = (entry: InFlight) => {
      if (entry.prev) entry.prev.next = entry.next;
      else oldest = entry.next;
      if (entry.next) entry.next.prev = entry.prev;
      else newest = entry.prev;
      entry.prev = entry.next = null;
      (entry.reply.request as unknown as Tracked)[kInFlight] = null;
    };

    const expire = () => {
      timer = null;
      const now = performance.now();
      while (oldest && now - oldest.at >= requestTimeoutMs) {
        const { reply } = oldest;
        unlink(oldest);
        if (reply.sent || reply.raw.destroyed) continue;
        timeOut(reply, requestTimeoutMs);
      }
      if (oldest) timer = setTimeout(expire, oldest.at + requestTimeoutMs - now).unref();
    };

    app.decorateRequest(kInFlight, null);
    // A response that streams for as long as its data lasts (the account export) leaves the
    // shared list when it starts and is bounded by its own deadline: one timer of its own, as
    // such responses are rare. Past it the response is destroyed (the client sees a cut-off
    // download, never a complete-looking one); the stream's consumer releases what it holds.
    app.decorateReply('streamUntil', function (this: FastifyReply, ms: number) {
      const entry = (this.request as unknown as Tracked)[kInFlight];
      if (entry) unlink(entry);
      const own = setTimeout(() => {
        if (!this.raw.writableEnded && !this.raw.destroyed) timeOut(this, ms);
      }, ms).unref();
      this.raw.once('close', () => clearTimeout(own));
      return this;
    });
    app.addHook('preClose', (done) => {
      closing = true;
      for (let entry = oldest; entry; entry = entry.next) {
        if (!entry.reply.raw.headersSent) entry.reply.raw.setHeader('connection', 'close');
      }
      done();
    });
    app.addHook('onClose', (_app, done) => {
      if (timer) clearTimeout(timer);
      timer = null;
      done();
    });
    // Callback style: no promise per request on the hot path.
    app.addHook('onRequest', (request, reply, done) => {
      if (closing) return done(new AppError('service_unavailable', { message: 'The server is shutting down; retry the request.', retryAfterS: 1 }));
      const entry: InFlight = { reply, at: performance.now(), prev: newest, next: null };
      if (newest) newest.next = entry;
      else oldest = entry;
      newest = entry;
      (request as unknown as Tracked)[kInFlight] = entry;
      timer ??= setTimeout(expire, requestTimeoutMs).unref();
      done();
    });
    app.addHook('onResponse', (request, _reply, done) => {
      const entry = (request as unknown as Tracked)[kInFlight];
      if (entry) unlink(entry);
      done();
    });
  },
  { name: 'shutdown' },
);
