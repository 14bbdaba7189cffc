import { defineConfig } from 'drizzle-kit';

// Generation, plus Drizzle Studio: migrations are applied by src/db/migrate.ts (under an
// advisory lock) at boot, in tests and by `npm run migrate`, never by drizzle-kit. Only
// `npm run db:studio` (scripts/db-studio.ts) connects, to the DATABASE_URL it sets.
const url = process.env.DATABASE_URL;

export default defineConfig({
  dialect: 'postgresql',
  schema: './src/db/schema/index.ts',
  out: './drizzle',
  casing: 'snake_case',
  strict: true,
  verbose: true,
  ...(url ? { dbCredentials: { url } } : {}),
});
