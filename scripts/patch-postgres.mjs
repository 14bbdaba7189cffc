// postinstall: small, marked edits to postgres.js: two to connection.js, one to queue.js. Each
// is applied whole or not at all, and a file that already carries an edit's mark is left alone.
//
// 1. Guard nextWrite against a socket that closed in the meantime. postgres@3.4.9 buffers
//    small writes with setImmediate(nextWrite). When the server goes away between scheduling
//    and running it, nextWrite calls socket.write on null: an uncaught TypeError that takes
//    the whole process down, and the query it carried never settles (porsager/postgres#1154,
//    #1208; fix proposed in PR #1209, not released yet). offbase's database-restart fault
//    test (test/faults/db-restart.test.ts) reproduces it. The guard rejects the connection's
//    queries with CONNECTION_CLOSED instead, which the API answers with 503. Remove this edit
//    once a fixed release is out.
//
// 2. A client-side deadline on every query (postgres.js has none: porsager/postgres#394).
//    statement_timeout is enforced by the server, which enforces nothing while it is frozen,
//    failing over or unreachable. With `sql.options.query_deadline_ms` set (src/db/client.ts
//    does), a query that has been running on a connection that long fails with
//    QUERY_DEADLINE, and that connection's socket is destroyed: it is never handed out again,
//    and the pool opens a fresh one when it needs it. The edit also marks the options object
//    (`query_deadline_ms: 0`), so offbase can refuse to start on an unpatched copy. A failed
//    array-type lookup while connecting (which the deadline can now cause) rejects the
//    waiting query as before instead of becoming an unhandled rejection. Keep this edit until
//    postgres.js ships a client-side query timeout.
//    Tested by test/faults/db-freeze.test.ts.
//
// 3. Keep the pool's queues from growing while it is saturated. Queue.shift (queue.js) leaves
//    a hole where the element was and resets the array only when it empties; the pool moves
//    a connection from one queue to the next with remove(), an indexOf from the array's start.
//    While every connection is in use (more requests in flight than the pool has connections:
//    any burst), the busy queue never empties: each query adds a hole, and each move scans all
//    of them. Measured here: 32 callers on 10 connections, `select 1`, went from 40,000 to
//    13,000 queries/s within 10 s, the array past 200,000 slots, and it only recovers when the
//    load stops entirely. The edit starts remove()'s search at the live part and drops the
//    holes once they are at least half of the array (and 1,024 or more), so every operation is
//    amortised O(live entries). Tested by test/db/pool-queue.test.ts. Not reported upstream
//    from here (no network to GitHub): remove this edit once a release fixes queue.js.
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const PATCHES = [
  {
    name: 'closed-socket guard',
    file: 'connection.js',
    mark: '/* offbase: guard closed socket */',
    edits: [
      [
        '  function nextWrite(fn) {\n    const x = socket.write(chunk, fn)',
        `  function nextWrite(fn) {
    /* offbase: guard closed socket */
    if (!socket) {
      nextWriteTimer !== null && clearImmediate(nextWriteTimer)
      chunk = nextWriteTimer = null
      error(Errors.connection('CONNECTION_CLOSED', options, socket))
      return false
    }
    const x = socket.write(chunk, fn)`,
      ],
    ],
  },
  {
    name: 'query deadline',
    file: 'connection.js',
    mark: '/* offbase: query deadline */',
    edits: [
      ['    , nextWriteTimer = null\n', '    , nextWriteTimer = null\n    , deadlineTimer = null\n'],
      [
        '  queues.closed && queues.closed.push(connection)\n',
        "  queues.closed && queues.closed.push(connection)\n  'query_deadline_ms' in options || (options.query_deadline_ms = 0)\n",
      ],
      ['        : (query = q, query.active = true)\n', '        : (query = q, query.active = true, armDeadline())\n'],
      [
        '  function connectTimedOut() {',
        `  /* offbase: query deadline */
  function armDeadline() {
    deadlineTimer !== null && clearTimeout(deadlineTimer)
    deadlineTimer = options.query_deadline_ms > 0 ? setTimeout(deadlineExceeded, options.query_deadline_ms) : null
  }

  function clearDeadline() {
    deadlineTimer !== null && (clearTimeout(deadlineTimer), deadlineTimer = null)
  }

  function deadlineExceeded() {
    deadlineTimer = null
    error(Errors.connection('QUERY_DEADLINE', options, socket))
    socket && socket.destroy()
  }

  function connectTimedOut() {`,
      ],
      ['    query = results = errorResponse = null\n', '    query = results = errorResponse = null\n    clearDeadline()\n'],
      ['        return fetchArrayTypes()\n', '        return fetchArrayTypes().catch(noop)\n'],
      ['      return // Consider opening if able and sent.length < 50\n', '      return armDeadline() // Consider opening if able and sent.length < 50\n'],
      ['    connectTimer.cancel()\n\n    socket.removeAllListeners()\n', '    connectTimer.cancel()\n    clearDeadline()\n\n    socket.removeAllListeners()\n'],
    ],
  },
  {
    name: 'queue holes',
    file: 'queue.js',
    mark: '/* offbase: queue holes */',
    edits: [
      [
        `    remove: (x) => {
      const index = xs.indexOf(x)
      return index === -1
        ? null
        : (xs.splice(index, 1), x)
    },`,
        `    remove: (x) => {
      /* offbase: queue holes */
      const at = xs.indexOf(x, index)
      return at === -1
        ? null
        : (xs.splice(at, 1), x)
    },`,
      ],
      [
        `      if (index === xs.length) {
        index = 0
        xs = []
      } else {`,
        `      if (index === xs.length) {
        index = 0
        xs = []
      } else if (index >= 1024 && index * 2 >= xs.length) {
        xs = xs.slice(index)
        index = 0
      } else {`,
      ],
    ],
  },
];

const once = (text, needle) => text.indexOf(needle) !== -1 && text.indexOf(needle) === text.lastIndexOf(needle);

for (const [flavour, name] of ['src', 'cjs/src', 'cf/src'].flatMap((f) => [...new Set(PATCHES.map((p) => p.file))].map((n) => [f, n]))) {
  const file = path.join(root, 'node_modules/postgres', flavour, name);
  if (!existsSync(file)) continue;
  const original = readFileSync(file, 'utf8');
  let text = original;
  for (const patch of PATCHES.filter((p) => p.file === name)) {
    if (text.includes(patch.mark)) continue;
    const missing = patch.edits.find(([from]) => !once(text, from));
    if (missing) {
      process.stderr.write(`patch-postgres: ${flavour}/${name} changed upstream; ${patch.name} not applied (see scripts/patch-postgres.mjs)\n`);
      continue;
    }
    for (const [from, to] of patch.edits) text = text.replace(from, () => to);
  }
  if (text === original) continue;
  // Write a new file and rename it over the old one: node_modules may be hard-linked
  // between checkouts, and editing in place would change them all.
  const tmp = `${file}.offbase-tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, file);
}
