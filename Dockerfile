# syntax=docker/dockerfile:1.7
# offbase API image: compiled JavaScript, production dependencies, migrations, RDS CA bundle.
# test/image.test.ts reproduces the runtime stage without Docker (same install, same files).

ARG NODE_VERSION=24

# --- production dependencies only (no dev tools, no infra/ workspace) ---
FROM node:${NODE_VERSION}-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# postinstall: guards postgres.js against a crash when the database drops a connection.
COPY scripts/patch-postgres.mjs ./scripts/
RUN npm ci --omit=dev --workspaces=false --no-audit --no-fund && npm cache clean --force

# --- compile TypeScript with the dev dependencies ---
FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
COPY scripts/patch-postgres.mjs ./scripts/
RUN npm ci --workspaces=false --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# --- runtime ---
FROM node:${NODE_VERSION}-bookworm-slim AS runtime
# MALLOC_ARENA_MAX: glibc gives every thread its own malloc arena and keeps what argon2 freed
# in it (19 MiB per hash on each libuv thread); two arenas cap that at ~50 MB less RSS.
ENV NODE_ENV=production \
    MALLOC_ARENA_MAX=2 \
    PORT=3000 \
    DB_SSL_CA=/etc/ssl/rds/global-bundle.pem
WORKDIR /app
# Amazon's RDS CA bundle, so DB_SSL=verify-full authenticates the database server.
ADD --chmod=0644 https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem /etc/ssl/rds/global-bundle.pem
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
