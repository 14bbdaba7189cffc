import { defineConfig } from 'drizzle-kit';

// Generation only: drizzle-kit never talks to a database here. Migrations are applied by
// src/db/migrate.ts (under an advisory lock) at boot, in tests and by `npm run migrate`.
export default defineConfig({
  dialect: 'postgresql',
  schema: './src/db/schema/index.ts',
  out: './drizzle',
  casing: 'snake_case',
  strict: true,
  verbose: true,
});
