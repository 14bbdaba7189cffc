import { createHash } from 'node:crypto';
import { sql } from 'drizzle-orm';
import type { FastifyBaseLogger } from 'fastify';
import fp from 'fastify-plugin';
import type { Config } from '../config.js';
import type { Db } from '../db/client.js';
import { AppError } from '../errors/app-error.js';

// Fixed-window counters in PostgreSQL (table rate_limits), so every API task behind the load
// balancer shares one budget per key. One atomic upsert per request counts the hit and
// returns the new total: no read-then-write race between tasks.

export interface RateLimitRule {
  /** What is limited, e.g. `login:ip`, `login:email`. */
  bucket: string;
  /** Who is limited: an IP, an email, a user id. Hashed before it is stored. */
  subject: string;
  limit: number;
}

export interface RateLimiter {
  /** Counts one hit on every rule; throws 429 rate_limited with Retry-After when any is over. `request` gives the logger. */
  check(request: { log: FastifyBaseLogger } | null, rules: RateLimitRule[]): Promise<void>;
}

declare module 'fastify' {
  interface FastifyInstance {
    rateLimit: RateLimiter;
  }
}

// Subjects are hashed: the table should not become a list of emails and addresses.
const keyOf = (rule: RateLimitRule) => `${rule.bucket}:${createHash('sha256').update(rule.subject).digest('base64url').slice(0, 22)}`;

export function createRateLimiter(db: Db, config: Config['rateLimit']): RateLimiter {
  let sweepAt = 0;
  return {
    async check(request, rules) {
      if (!config.enabled || rules.length === 0) return;
      const windowS = config.windowS;
      // Sorted keys: concurrent multi-key upserts lock rows in one order and cannot deadlock.
      const byKey = new Map(rules.map((r) => [keyOf(r), r]));
      const keys = [...byKey.keys()].sort();
      const values = sql.join(
        keys.map((k) => sql`(${k}, 1, now() + make_interval(secs => ${windowS}))`),
        sql`, `,
      );
      const rows = await db.execute<{ key: string; hits: number; retry_after: number }>(sql`
        insert into rate_limits (key, hits, reset_at) values ${values}
        on conflict (key) do update set
          hits = case when rate_limits.reset_at <= now() then 1 else rate_limits.hits + 1 end,
          reset_at = case when rate_limits.reset_at <= now() then excluded.reset_at else rate_limits.reset_at end
        returning key, hits, greatest(1, ceil(extract(epoch from reset_at - now())))::int as retry_after`);
      let worst: { retry: number; limit: number } | null = null;
      for (const row of rows) {
        const rule = byKey.get(row.key)!;
        if (row.hits > rule.limit && (!worst || row.retry_after > worst.retry)) worst = { retry: row.retry_after, limit: rule.limit };
      }
      if (Date.now() > sweepAt) {
        // Expired windows are dead weight; one task in a while clears them, off the request path.
        sweepAt = Date.now() + 60_000;
        void db.execute(sql`delete from rate_limits where reset_at < now() - interval '1 minute'`).catch((err) => {
          request?.log.warn({ err: (err as Error).message }, 'rate limit sweep failed');
        });
      }
      if (worst) {
        request?.log.info({ retry_after: worst.retry }, 'rate limited');
        throw new AppError('rate_limited', {
          retryAfterS: worst.retry,
          headers: { 'ratelimit-limit': String(worst.limit), 'ratelimit-remaining': '0', 'ratelimit-reset': String(worst.retry) },
        });
      }
    },
  };
}

export default fp<{ config: Config }>(
  async (app, { config }) => {
    app.decorate('rateLimit', createRateLimiter(app.db, config.rateLimit));
  },
  { name: 'rate-limit', dependencies: ['database'] },
);
