import fp from 'fastify-plugin';
import type { Database, Db } from '../db/client.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** Primary: writes, transactions, reads that must see the request's own writes. */
    db: Db;
    database: Database;
  }
  interface FastifyRequest {
    /**
     * Where this request's plain reads (list, get, search, count) go: the replica pool when
     * DATABASE_READ_URL is set, except for a user who wrote in the last few seconds, who
     * reads the primary so their own writes are always visible to them.
     */
    readonly readDb: Db;
    /** Call after a successful write so the user's next reads stick to the primary. */
    markWrite(): void;
  }
}

// Read-your-writes window; replica lag on RDS is normally well under a second.
const STICKY_MS = 5000;
const MAX_TRACKED = 100_000;

// The pool is created and closed by whoever owns the process (server.ts, tests);
// the app only borrows it.
export default fp<{ database: Database }>(
  async (app, { database }) => {
    app.decorate('database', database);
    app.decorate('db', database.db);

    const hasReplica = database.readDb !== database.db;
    const lastWrite = new Map<string, number>();
    const userKey = (request: { user?: { sub?: string } | null; ip: string }) => request.user?.sub ?? `ip:${request.ip}`;

    app.decorateRequest('readDb', {
      getter() {
        if (!hasReplica) return database.db;
        const at = lastWrite.get(userKey(this));
        return at !== undefined && Date.now() - at < STICKY_MS ? database.db : database.readDb;
      },
    });
    app.decorateRequest('markWrite', function (this: { user?: { sub?: string } | null; ip: string }) {
      if (!hasReplica) return;
      if (lastWrite.size >= MAX_TRACKED) lastWrite.clear();
      lastWrite.set(userKey(this), Date.now());
    });
    if (hasReplica) {
      // Any successful unsafe method counts as a write, so routes cannot forget to mark it.
      app.addHook('onResponse', (request, reply, done) => {
        if (request.method !== 'GET' && request.method !== 'HEAD' && reply.statusCode < 400) request.markWrite();
        done();
      });
    }
  },
  { name: 'database' },
);
