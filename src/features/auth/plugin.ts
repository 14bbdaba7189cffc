import fp from 'fastify-plugin';
import type { Config } from '../../config.js';
import { dummyHash, hashOnEveryCore } from './passwords.js';
import { pruneAuthTables } from './sessions.js';

const PRUNE_EVERY_MS = 15 * 60_000;

// The auth feature's background work, started when the app is ready and stopped when it
// closes: the dummy-hash warm-up (the first login for an unknown email should not pay for
// it), hashing's priority below requests (passwords.ts), and the pruning of ended sessions
// and dead tokens (idempotent deletes, every task).
export default fp<{ config: Config }>(
  async (app, { config }) => {
    let prune: NodeJS.Timeout | undefined;
    app.addHook('onReady', async () => {
      prune = setInterval(() => {
        pruneAuthTables(app.db, config.auth.refreshTokenTtlS).catch((err: Error) => app.log.warn({ err: err.message }, 'auth prune failed'));
      }, PRUNE_EVERY_MS);
      prune.unref();
      // In the background: readiness does not wait for it, and until it is done hashing keeps
      // to cores − 1 at normal priority. A search that fails (a process busy from its first
      // second) is tried again later, for up to ~13 minutes; the line below comes when it ends.
      hashOnEveryCore().then(
        (done) => app.log.info({ hashing: done ? 'every core while the event loop is idle, thread pool at nice 5' : 'cores - 1, thread pool at normal priority' }, 'password hashing'),
        (err: Error) => app.log.warn({ err: err.message }, 'password hashing priority not set'),
      );
      await dummyHash(config.auth.argon2);
    });
    app.addHook('onClose', async () => clearInterval(prune));
  },
  { name: 'auth-maintenance', dependencies: ['database'] },
);
