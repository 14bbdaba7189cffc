import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export interface GeneratedFile {
  /** Absolute path of the committed file. */
  target: string;
  /** What the generator writes now. */
  expected: string;
  /** Prefix of every line printed, e.g. "env check". */
  label: string;
  /** The npm script that regenerates it. */
  command: string;
  /** Why it is stale, as a clause: "does not match EnvSchema in src/config.ts". */
  staleBecause: string;
}

/**
 * The tail of every generator: writes the file, or with `--check` (CI) exits 1 with one line
 * naming the command to run when the committed file differs from what would be written.
 */
export function writeOrCheck(file: GeneratedFile, upToDate: string): void {
  const relative = path.relative(process.cwd(), file.target);
  if (!process.argv.includes('--check')) {
    writeFileSync(file.target, file.expected);
    console.log(`wrote ${relative}`);
    return;
  }
  let current = '';
  try {
    current = readFileSync(file.target, 'utf8');
  } catch {
    // A missing file is a stale one.
  }
  if (current !== file.expected) {
    console.error(`${file.label}: ${relative} ${file.staleBecause}: run \`${file.command}\``);
    process.exit(1);
  }
  console.log(`${file.label}: ${upToDate}`);
}
