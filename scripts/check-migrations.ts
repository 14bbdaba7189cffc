// CI drift check: drizzle/ must match src/db/schema, and every migration must be journaled.
// Regenerates into a scratch copy of drizzle/ and fails if drizzle-kit would write anything.
import { execFileSync } from 'node:child_process';
import { cpSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
const drizzleDir = path.join(root, 'drizzle');
const problems: string[] = [];

const journal = JSON.parse(readFileSync(path.join(drizzleDir, 'meta/_journal.json'), 'utf8')) as { entries: { tag: string }[] };
const tags = new Set(journal.entries.map((e) => e.tag));
const files = readdirSync(drizzleDir).filter((f) => f.endsWith('.sql'));
for (const f of files) if (!tags.has(f.replace(/\.sql$/, ''))) problems.push(`drizzle/${f} is not in meta/_journal.json`);
for (const tag of tags) if (!files.includes(`${tag}.sql`)) problems.push(`journal entry ${tag} has no drizzle/${tag}.sql`);

// drizzle-kit only takes --out relative to the working directory.
const scratchRel = `node_modules/.cache/offbase-drift-${process.pid}`;
const scratch = path.join(root, scratchRel);
try {
  cpSync(drizzleDir, scratch, { recursive: true });
  const output = execFileSync(
    path.join(root, 'node_modules/.bin/drizzle-kit'),
    ['generate', '--dialect', 'postgresql', '--schema', './src/db/schema/index.ts', '--out', scratchRel, '--name', 'drift'],
    { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' },
  );
  // drizzle-kit can exit 0 after an error: require one of its two success messages.
  if (!/No schema changes|Your SQL migration file/.test(output)) problems.push(`drizzle-kit generate did not run cleanly:\n${output}`);
  const added = readdirSync(scratch).filter((f) => f.endsWith('.sql') && !files.includes(f));
  for (const f of added) {
    problems.push(`src/db/schema differs from drizzle/: run \`npm run db:generate\`. Pending SQL:\n${readFileSync(path.join(scratch, f), 'utf8')}`);
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}

if (problems.length) {
  for (const p of problems) console.error(`migration check: ${p}`);
  process.exit(1);
}
console.log(`migration check: ${files.length} migrations journaled, schema and drizzle/ agree`);
