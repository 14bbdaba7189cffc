import { startServer } from './boot.js';
import { ConfigError, loadConfig } from './config.js';

// Process entry. Configuration errors are one line on stderr and exit code 1.
try {
  await startServer(loadConfig());
} catch (err) {
  const message = err instanceof ConfigError ? `configuration error: ${err.message}` : `failed to start: ${err instanceof Error ? err.message : String(err)}`;
  process.stderr.write(`offbase: ${message}\n`);
  process.exit(1);
}
