import fp from 'fastify-plugin';
import type { Database, Db } from '../db/client.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** Primary: writes, transactions, reads that must see the request's own writes. */
    db: Db;
    /** Replica when DATABASE_READ_URL is set; otherwise the primary. */
    readDb: Db;
    database: Database;
  }
}

// The pool is created and closed by whoever owns the process (server.ts, tests);
// the app only borrows it.
export default fp<{ database: Database }>(
  async (app, { database }) => {
    app.decorate('database', database);
    app.decorate('db', database.db);
    app.decorate('readDb', database.readDb);
  },
  { name: 'database' },
);
