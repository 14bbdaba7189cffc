import { Writable } from 'node:stream';
import { DrizzleQueryError } from 'drizzle-orm/errors';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/logger.js';

describe('logger', () => {
  it("a failed statement's bind parameters never reach a log line", () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _enc, cb) {
        lines.push(String(chunk));
        cb();
      },
    });
    const log = createLogger({ logLevel: 'info' }, sink);
    const hash = '$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo';
    const cause = Object.assign(new Error('permission denied for table users'), { code: '42501' });
    log.error({ err: new DrizzleQueryError('insert into "users" ("email", "password_hash") values ($1, $2)', ['ada@example.com', hash], cause) }, 'unhandled error');
    const line = lines.join('');
    expect(line).toContain('insert into \\"users\\"');
    expect(line).toContain('permission denied for table users');
    expect(line).not.toContain(hash);
    expect(line).not.toContain('ada@example.com');
  });

  it('pretty-prints when asked, after redaction, and never in production', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _enc, cb) {
        lines.push(String(chunk));
        cb();
      },
    });
    const log = createLogger({ logLevel: 'info', logPretty: true }, sink);
    log.info({ req: { headers: { authorization: 'Bearer sekrit-token' } }, password: 'hunter2hunter2' }, 'signed in');
    await new Promise((resolve) => setTimeout(resolve, 50));
    const text = lines.join('');
    expect(text).toMatch(/INFO.*signed in/);
    expect(() => JSON.parse(text)).toThrow();
    expect(text).toContain('[redacted]');
    expect(text).not.toContain('sekrit-token');
    expect(text).not.toContain('hunter2hunter2');

    expect(loadConfig({}).logPretty).toBe(false);
    expect(loadConfig({ LOG_PRETTY: 'true' }).logPretty).toBe(true);
    const prod = { NODE_ENV: 'production', DATABASE_URL: 'postgres://app@db:5432/app', JWT_SECRET: 'x'.repeat(32), MFA_ENCRYPTION_KEY: 'm'.repeat(32) };
    expect(loadConfig({ ...prod, LOG_PRETTY: 'true' }).logPretty).toBe(false);
  });
});
