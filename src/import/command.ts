import type { Command } from 'commander';
import { loadConfig } from '../config.js';
import { parseOnly, runImport } from './run.js';
import { ImportError } from './source.js';
import type { WriteStrategy } from './writer.js';

type DatabaseUrl = (config: ReturnType<typeof loadConfig>) => Promise<{ url: string; stop: () => Promise<void> }>;

/** Registers `import-supabase` on the CLI; cli.ts passes its own database-URL resolver. */
export function registerImportSupabase(program: Command, databaseUrl: DatabaseUrl): void {
  program
    .command('import-supabase')
    .description('import users and data from a Supabase database (dry run unless --apply)')
    .requiredOption('--source <url>', 'postgres URL of the Supabase database (opened read-only)')
    .option('--apply', 'write to offbase (without it: print the plan, write nothing)', false)
    .option('--update', 'with --apply: also refresh rows whose Supabase updated_at is newer than offbase\'s', false)
    .option('--validate', 'only compare source and offbase (counts, id and content checksums); writes nothing', false)
    .option('--only <tables>', 'comma-separated subset of users and the data tables (documents,analyses,audit_logs and every other declared owned table)')
    .option('--batch-size <n>', 'rows per batch (one transaction each)', '1000')
    .option('--report <file>', 'write plan, results and validation as JSON')
    .option('--mapping <file>', 'JSON file with source table / column renames and defaults')
    .option('--allow-mfa-downgrade', 'import users whose verified MFA factors offbase cannot carry (phone, WebAuthn, encrypted TOTP secrets)', false)
    .option('--strategy <insert|copy>', 'how batches are written: multi-row INSERT, or COPY into a staging table', 'insert')
    .action(async (opts: { source: string; apply: boolean; update: boolean; validate: boolean; only?: string; batchSize: string; report?: string; mapping?: string; strategy: string; allowMfaDowngrade: boolean }) => {
      const batchSize = Number(opts.batchSize);
      if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 100_000) throw new ImportError('--batch-size must be an integer from 1 to 100000');
      if (opts.strategy !== 'insert' && opts.strategy !== 'copy') throw new ImportError('--strategy must be insert or copy');
      if (opts.apply && opts.validate) throw new ImportError('--apply and --validate cannot be combined');
      if (opts.update && !opts.apply) throw new ImportError('--update needs --apply');
      const only = parseOnly(opts.only);
      const config = loadConfig();
      const { url, stop } = await databaseUrl(config);
      try {
        await runImport({
          sourceUrl: opts.source,
          // The migration role owns the tables: it may keep documents.updated_at (see writer.ts).
          targetUrl: config.db.migrationUrl ?? url,
          apply: opts.apply,
          validateOnly: opts.validate,
          update: opts.update,
          only,
          batchSize,
          ...(opts.mapping ? { mappingPath: opts.mapping } : {}),
          ...(opts.report ? { reportPath: opts.report } : {}),
          strategy: opts.strategy as WriteStrategy,
          allowMfaDowngrade: opts.allowMfaDowngrade,
          refreshTokenTtlS: config.auth.refreshTokenTtlS,
          mfaKeys: config.auth.mfa,
        });
      } finally {
        await stop();
      }
    });
}
