import { createHash, createHmac } from 'node:crypto';
import type { Sql } from 'postgres';
import type { Progress } from './progress.js';
import { assertAllRowsVisible, tableColumns } from './source.js';

// Live Supabase sessions and their current refresh tokens (auth.sessions, auth.refresh_tokens)
// come across so nobody is logged out by the move: a client holding a Supabase refresh token
// exchanges it at offbase (/auth/v1/token?grant_type=refresh_token, /api/v1/auth/refresh) and
// rotates from there. Refresh tokens are stored as offbase stores its own: only their SHA-256
// (features/auth/sessions.ts hashToken), and the session keeps its Supabase id, so the old
// access tokens' session_id names it (revoking it ends them too: compat/supabase-tokens).
//
// The formats auth can hold:
// - v1: a random string in auth.refresh_tokens.token (12 lowercase base32 characters today,
//   longer random strings in older projects), one row per rotation; the live one is
//   revoked = false. Carried as is.
// - v2 ("refresh token algorithm v2"): no row per token; the session holds an HMAC key
//   (refresh_token_hmac_key) and a counter, and the client's token is
//   base64url(0x00 ‖ session id ‖ uvarint(counter) ‖ HMAC-SHA-256(key, those)[:16] ‖ SHA-256(all before)[:4]).
//   The importer derives the current token from the key and the counter and carries its hash.
// - v2 with the HMAC key encrypted by GoTrue's database encryption (a JSON string
//   {"key_id","alg":"aes-gcm-hkdf",...}): the key cannot be read without GoTrue's encryption
//   key: not carried (reported as hmac_key_encrypted; those users sign in again).
// - v1 tokens without a session (session_id NULL, from before sessions existed): not carried
//   (tokens_without_session).

export type SessionSkipReason = 'owner_not_imported' | 'no_live_refresh_token' | 'hmac_key_encrypted';

export interface SessionsPlan {
  source_table: 'auth.sessions';
  /** sessions not past not_after. */
  live_sessions: number;
  will_import: number;
  refresh_tokens: { v1: number; v2: number };
  skipped: Partial<Record<SessionSkipReason, number>>;
  /** live refresh tokens that cannot be carried, whatever their session. */
  not_carried: { tokens_without_session: number };
  note: string;
}

export interface SessionsResult {
  sessions_inserted: number;
  refresh_tokens_inserted: number;
  /** refresh tokens of an earlier run that Supabase has rotated since (revoked in offbase). */
  refresh_tokens_retired: number;
  /** sessions already used at offbase (rotated, revoked): offbase owns them, left as they are. */
  sessions_left_alone: number;
  seconds: number;
}

const NOTE =
  'live Supabase sessions (not past not_after, owner imported) with their current refresh token (v1 rows, v2 derived from the session key), stored hashed; the session keeps its id';

/** The refresh token GoTrue's v2 algorithm hands out for this session and counter. */
export function v2RefreshToken(sessionId: string, counter: bigint, hmacKeyB64Url: string): string {
  const parts = [Buffer.from([0]), Buffer.from(sessionId.replace(/-/g, ''), 'hex')];
  const varint: number[] = [];
  let n = counter < 0n ? 0n : counter;
  do {
    let byte = Number(n & 0x7fn);
    n >>= 7n;
    if (n > 0n) byte |= 0x80;
    varint.push(byte);
  } while (n > 0n);
  parts.push(Buffer.from(varint));
  const message = Buffer.concat(parts);
  const signature = createHmac('sha256', Buffer.from(hmacKeyB64Url, 'base64url')).update(message).digest().subarray(0, 16);
  const signed = Buffer.concat([message, signature]);
  const checksum = createHash('sha256').update(signed).digest().subarray(0, 4);
  return Buffer.concat([signed, checksum]).toString('base64url');
}

const sha256 = (token: string) => createHash('sha256').update(token).digest('hex');

interface SourceSession {
  id: string;
  user_id: string;
  created_at: string | null;
  not_after: string | null;
  user_agent: string | null;
  ip: string | null;
  hmac_key: string | null;
  counter: string | null;
  tokens: string[] | null;
}

/** Whether the source has GoTrue's session tables (checked for row level security like every table read). */
export async function hasSessionTables(source: Sql): Promise<boolean> {
  const s = await tableColumns(source, 'auth', 'sessions');
  const r = await tableColumns(source, 'auth', 'refresh_tokens');
  if (!s.length || !r.length) return false;
  await assertAllRowsVisible(source, 'auth', 'sessions');
  await assertAllRowsVisible(source, 'auth', 'refresh_tokens');
  return true;
}

export async function sessionsPass(opts: {
  source: Sql;
  target: Sql;
  apply: boolean;
  batchSize: number;
  progress: Progress;
  /** users that do not come across: their sessions neither. */
  skippedUserIds: string[];
  /** offbase's REFRESH_TOKEN_TTL: an imported session lives at most that long (or to its not_after). */
  refreshTtlS: number;
}): Promise<{ plan: SessionsPlan; result: SessionsResult | null }> {
  const { source, target, apply } = opts;
  const started = Date.now();
  const cols = new Set((await tableColumns(source, 'auth', 'sessions')).map((c) => c.name));
  const v2 = cols.has('refresh_token_hmac_key') && cols.has('refresh_token_counter');
  const skippedUsers = new Set(opts.skippedUserIds);
  const plan: SessionsPlan = {
    source_table: 'auth.sessions',
    live_sessions: 0,
    will_import: 0,
    refresh_tokens: { v1: 0, v2: 0 },
    skipped: {},
    not_carried: { tokens_without_session: 0 },
    note: NOTE,
  };
  const result: SessionsResult = { sessions_inserted: 0, refresh_tokens_inserted: 0, refresh_tokens_retired: 0, sessions_left_alone: 0, seconds: 0 };
  const skip = (reason: SessionSkipReason) => void (plan.skipped[reason] = (plan.skipped[reason] ?? 0) + 1);

  const [orphans] = await source<{ n: number }[]>`
    select count(*)::int as n from auth.refresh_tokens where session_id is null and not coalesce(revoked, false)`;
  plan.not_carried.tokens_without_session = orphans?.n ?? 0;
  const [{ n: total } = { n: 0 }] = await source<{ n: number }[]>`select count(*)::int as n from auth.sessions where not_after is null or not_after > now()`;
  opts.progress.start('sessions', total);

  const hmac = v2 ? 's.refresh_token_hmac_key as hmac_key, s.refresh_token_counter::text as counter' : 'null as hmac_key, null as counter';
  const cursor = source
    .unsafe<{ j: string }[]>(
      `select row_to_json(x)::text as j from (
         select s.id, s.user_id, s.created_at, s.not_after, s.user_agent, host(s.ip) as ip, ${hmac},
           (select json_agg(rt.token order by rt.id) from auth.refresh_tokens rt
             where rt.session_id = s.id and not coalesce(rt.revoked, false) and coalesce(rt.token, '') <> '') as tokens
         from auth.sessions s where s.not_after is null or s.not_after > now()) x order by x.id`,
    )
    .cursor(opts.batchSize);
  for await (const batch of cursor) {
    const rows: { id: string; user_id: string; created_at: string | null; not_after: string | null; user_agent: string | null; ip: string | null }[] = [];
    const tokens: { session_id: string; token_hash: string }[] = [];
    for (const { j } of batch) {
      const s = JSON.parse(j) as SourceSession;
      plan.live_sessions++;
      if (skippedUsers.has(s.user_id)) {
        skip('owner_not_imported');
        continue;
      }
      const carried: string[] = [...(s.tokens ?? [])];
      let encrypted = false;
      if (s.hmac_key && s.counter !== null) {
        if (s.hmac_key.startsWith('{')) encrypted = true;
        else carried.push(v2RefreshToken(s.id, BigInt(s.counter), s.hmac_key));
      }
      if (!carried.length) {
        skip(encrypted ? 'hmac_key_encrypted' : 'no_live_refresh_token');
        continue;
      }
      plan.will_import++;
      plan.refresh_tokens.v1 += s.tokens?.length ?? 0;
      plan.refresh_tokens.v2 += carried.length - (s.tokens?.length ?? 0);
      rows.push({ id: s.id, user_id: s.user_id, created_at: s.created_at, not_after: s.not_after, user_agent: s.user_agent?.slice(0, 512) ?? null, ip: s.ip });
      for (const t of carried) tokens.push({ session_id: s.id, token_hash: sha256(t) });
    }
    if (apply && rows.length) await writeSessions(target, rows, tokens, opts.refreshTtlS, result);
    opts.progress.tick(batch.length);
  }
  opts.progress.stop();
  result.seconds = (Date.now() - started) / 1000;
  return { plan, result: apply ? result : null };
}

/**
 * One transaction per batch. A session offbase already holds is synced only while offbase
 * has not used it (never rotated there, not revoked): its refresh tokens that Supabase has
 * rotated since are retired and the current ones added. Once used at offbase, it is offbase's.
 */
async function writeSessions(
  target: Sql,
  rows: { id: string; user_id: string; created_at: string | null; not_after: string | null; user_agent: string | null; ip: string | null }[],
  tokens: { session_id: string; token_hash: string }[],
  ttlS: number,
  result: SessionsResult,
): Promise<void> {
  await target.begin(async (tx) => {
    const inserted = await tx<{ id: string }[]>`
      insert into sessions (id, user_id, user_agent, ip, created_at, expires_at)
      select x.id, x.user_id, x.user_agent, x.ip::inet, coalesce(x.created_at, now()),
             least(coalesce(x.not_after, 'infinity'), now() + make_interval(secs => ${ttlS}))
        from json_to_recordset(${JSON.stringify(rows)}::text::json)
             as x(id uuid, user_id uuid, user_agent text, ip text, created_at timestamptz, not_after timestamptz)
       where exists (select 1 from users u where u.id = x.user_id)
      on conflict (id) do nothing
      returning id`;
    result.sessions_inserted += inserted.length;
    const open = await tx<{ id: string }[]>`
      select id from sessions where id = any(${rows.map((r) => r.id)}::uuid[]) and refreshed_at is null and revoked_at is null`;
    result.sessions_left_alone += rows.length - open.length;
    const openIds = open.map((o) => o.id);
    const retired = await tx`
      update refresh_tokens set revoked_at = now()
       where session_id = any(${openIds}::uuid[]) and revoked_at is null and used_at is null
         and not (token_hash = any(${tokens.map((t) => t.token_hash)}::text[]))`;
    result.refresh_tokens_retired += retired.count;
    const added = await tx`
      insert into refresh_tokens (session_id, token_hash)
      select x.session_id, x.token_hash from json_to_recordset(${JSON.stringify(tokens)}::text::json) as x(session_id uuid, token_hash text)
       where x.session_id = any(${openIds}::uuid[])
      on conflict (token_hash) do nothing`;
    result.refresh_tokens_inserted += added.count;
  });
}
