import { Writable } from 'node:stream';
import { DrizzleQueryError } from 'drizzle-orm/errors';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { createLogger, requestChildLogger } from '../src/logger.js';

/** An info-level logger whose lines are collected, with the time field zeroed so lines compare. */
function timelessLogger() {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      lines.push(String(chunk).replace(/"time":\d+/, '"time":0'));
      cb();
    },
  });
  return { lines, log: createLogger({ logLevel: 'info' }, sink) };
}

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
    const { lines, log } = timelessLogger();
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

  it("builds a request's logger only when it is used, and then writes what pino's child writes", () => {
    const { lines, log } = timelessLogger();
    let children = 0;
    const counting = new Proxy(log, {
      get(target, prop, receiver) {
        if (prop === 'child') return (...args: Parameters<typeof log.child>) => (children++, target.child(...args));
        return Reflect.get(target, prop, receiver);
      },
    });
    const id = 'c0a8e3f2-1b2c-4d5e-8f90-123456789abc';
    // Made once per level and kept: a first call may build the shared template.
    requestChildLogger(counting, { request_id: id }, { level: 'warn' });
    requestChildLogger(counting, { request_id: id }, {});
    children = 0;

    // Nothing built for a request that writes nothing, or only below its level.
    const quiet = requestChildLogger(counting, { request_id: id }, { level: 'warn' }) as typeof log;
    quiet.info('not written');
    quiet.debug('not written');
    expect(quiet.level).toBe('warn');
    expect(quiet.isLevelEnabled('info')).toBe(false);
    expect(quiet.isLevelEnabled('warn')).toBe(true);
    expect(quiet.levelVal).toBe(40);
    expect(children).toBe(0);
    expect(lines).toEqual([]);

    // The first line builds it, once; every line then is pino's child's.
    const theirs = log.child({ request_id: id }, { level: 'warn' });
    quiet.warn({ password: 'pw-secret', n: 1 }, 'first');
    quiet.error('second');
    expect(children).toBe(1);
    const ours = lines.splice(0);
    theirs.warn({ password: 'pw-secret', n: 1 }, 'first');
    theirs.error('second');
    expect(ours).toEqual(lines.splice(0));
    expect(ours.join('')).toContain(`"request_id":"${id}"`);
    expect(ours.join('')).not.toContain('pw-secret');

    // A level change builds it and takes effect, as on pino's child; so do child and bindings.
    const loud = requestChildLogger(counting, { request_id: id }, { level: 'warn' }) as typeof log;
    loud.level = 'info';
    expect(loud.level).toBe('info');
    expect(loud.isLevelEnabled('info')).toBe(true);
    loud.info('now written');
    loud.child({ extra: 1 }).info('nested');
    const written = lines.splice(0);
    expect(written).toHaveLength(2);
    expect(written[0]).toContain(`"request_id":"${id}"`);
    expect(written[1]).toContain('"extra":1');
    const plain = requestChildLogger(counting, { request_id: id }, {}) as typeof log;
    expect(plain.bindings()).toEqual(log.child({ request_id: id }).bindings());
    expect(plain.level).toBe('info');
  });
});
