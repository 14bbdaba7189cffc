import { Writable } from 'node:stream';
import { DrizzleQueryError } from 'drizzle-orm/errors';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { createLogger, requestChildLogger } from '../src/logger.js';

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

  it("binds a request's logger as pino's own child does, redaction included", () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _enc, cb) {
        lines.push(String(chunk).replace(/"time":\d+/, '"time":0'));
        cb();
      },
    });
    const log = createLogger({ logLevel: 'info' }, sink);
    const cases: [Record<string, unknown>, Record<string, unknown>][] = [
      [{ request_id: 'c0a8e3f2-1b2c-4d5e-8f90-123456789abc' }, {}],
      [{ request_id: 'lb.1:2_3-4' }, { level: 'warn' }],
      // Not for the shortcut (escaping, a redacted key, two bindings): pino's own child.
      [{ request_id: 'quote"and\\backslash' }, {}],
      [{ token: 'tk-secret-1' }, {}],
      [{ request_id: 'a', user: 'b' }, {}],
    ];
    const err = new Error('boom');
    for (const [bindings, options] of cases) {
      const write = (l: typeof log) => {
        l.info({ password: 'pw-secret-2', nested: { refresh_token: 'rt-secret-3' }, n: 1 }, 'hello');
        l.warn('plain');
        l.child({ extra: 1 }).error({ err }, 'nested');
        return lines.splice(0);
      };
      const ours = requestChildLogger(log, bindings, options) as typeof log;
      const theirs: typeof log = log.child(bindings, options);
      const written = write(ours);
      expect(written).toEqual(write(theirs));
      expect(written.length).toBe(options.level === 'warn' ? 2 : 3);
      expect(ours.bindings()).toEqual(theirs.bindings());
      expect(written.join('')).not.toMatch(/secret/);
    }
  });
});

