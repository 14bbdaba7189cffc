// postinstall: guards postgres.js's nextWrite against a socket that closed in the meantime.
//
// postgres@3.4.9 buffers small writes with setImmediate(nextWrite). When the server goes
// away between scheduling and running it, nextWrite calls socket.write on null: an uncaught
// TypeError that takes the whole process down, and the query it carried never settles
// (porsager/postgres#1154, #1208; fix proposed in PR #1209, not released yet). offbase's
// database-restart fault test (test/faults/db-restart.test.ts) reproduces it. The guard
// below rejects the connection's queries with CONNECTION_CLOSED instead, which the API
// answers with 503 service_unavailable. Remove this script once a fixed release is out.
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const MARK = '/* offbase: guard closed socket */';
const ORIGINAL = '  function nextWrite(fn) {\n    const x = socket.write(chunk, fn)';
const PATCHED = `  function nextWrite(fn) {
    ${MARK}
    if (!socket) {
      nextWriteTimer !== null && clearImmediate(nextWriteTimer)
      chunk = nextWriteTimer = null
      error(Errors.connection('CONNECTION_CLOSED', options, socket))
      return false
    }
    const x = socket.write(chunk, fn)`;

for (const flavour of ['src', 'cjs/src', 'cf/src']) {
  const file = path.join(root, 'node_modules/postgres', flavour, 'connection.js');
  if (!existsSync(file)) continue;
  const text = readFileSync(file, 'utf8');
  if (text.includes(MARK)) continue;
  if (!text.includes(ORIGINAL)) {
    process.stderr.write(`patch-postgres: ${flavour}/connection.js changed upstream; guard not applied (check whether the release fixes #1208)\n`);
    continue;
  }
  // Write a new file and rename it over the old one: node_modules may be hard-linked
  // between checkouts, and editing in place would change them all.
  const tmp = `${file}.offbase-tmp`;
  writeFileSync(tmp, text.replace(ORIGINAL, PATCHED));
  renameSync(tmp, file);
}
