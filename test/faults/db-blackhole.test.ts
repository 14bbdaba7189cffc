import { createServer, type Server, type Socket } from 'node:net';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withQueryDeadline } from '../../src/db/client.js';
import { isDatabaseUnavailable } from '../../src/errors/database.js';

// A peer that completes the PostgreSQL handshake and then never answers again (a host that
// hangs right after accepting a connection, or a path that starts dropping packets). It
// exercises the client-side deadline of scripts/patch-postgres.mjs in isolation: the query
// fails with QUERY_DEADLINE within the deadline, that connection is closed from our side,
// the next query opens a new one, and nothing becomes an unhandled rejection (postgres.js's
// array-type lookup on a fresh connection is the first query to hang here).

const DEADLINE_MS = 300;
let server: Server;
let port: number;
const sockets: Socket[] = [];
const closedAt: number[] = [];

// Just the handshake: AuthenticationOk, BackendKeyData, ReadyForQuery; then silence.
function message(type: string, body: Buffer): Buffer {
  const header = Buffer.alloc(5);
  header.write(type, 0, 'latin1');
  header.writeUInt32BE(body.length + 4, 1);
  return Buffer.concat([header, body]);
}
const handshake = Buffer.concat([
  message('R', Buffer.from([0, 0, 0, 0])),
  message('K', Buffer.from([0, 0, 0, 42, 0, 0, 0, 7])),
  message('Z', Buffer.from('I', 'latin1')),
]);

beforeAll(async () => {
  server = createServer((socket) => {
    sockets.push(socket);
    let greeted = false;
    socket.on('data', () => {
      if (!greeted) socket.write(handshake); // the first packet is the startup message
      greeted = true;
    });
    socket.on('close', () => closedAt.push(Date.now()));
    socket.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as { port: number }).port;
});
afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise((r) => server.close(r));
});

describe('a database that stops answering after the handshake', () => {
  it('fails each query at the deadline with 503-class QUERY_DEADLINE and replaces the connection', async () => {
    const sql = withQueryDeadline(postgres(`postgres://offbase@127.0.0.1:${port}/offbase`, { max: 1, connect_timeout: 5, onnotice: () => {} }), DEADLINE_MS);
    try {
      for (let attempt = 1; attempt <= 2; attempt++) {
        const started = Date.now();
        const error = await sql`select 1`.then(
          () => null,
          (e: unknown) => e,
        );
        const ms = Date.now() - started;
        expect(error, `attempt ${attempt}`).toMatchObject({ code: 'QUERY_DEADLINE' });
        expect(isDatabaseUnavailable(error)).toBe(true);
        expect(ms).toBeGreaterThanOrEqual(DEADLINE_MS - 20);
        expect(ms).toBeLessThan(DEADLINE_MS + 1000);
        // The timed-out connection is closed by the client, not kept for the next query.
        for (let i = 0; i < 50 && closedAt.length < attempt; i++) await new Promise((r) => setTimeout(r, 20));
        expect(closedAt.length).toBe(attempt);
      }
      // Each query got a fresh connection.
      expect(sockets.length).toBe(2);
    } finally {
      await sql.end({ timeout: 0 });
    }
  });

  it('refuses a postgres.js without the deadline rather than run unprotected', () => {
    const fake = { options: {} } as unknown as postgres.Sql;
    expect(() => withQueryDeadline(fake, 1000)).toThrow(/patch-postgres/);
    expect(withQueryDeadline(fake, 0)).toBe(fake);
  });
});
