import type { ReservedSql, Sql } from 'postgres';
import { AppError } from '../../errors/app-error.js';
import { apiTimestamp } from '../../lib/timestamp.js';

// GET /me/export: everything offbase holds about one user as one JSON document, streamed.
// One reserved connection runs a REPEATABLE READ READ ONLY transaction, so the sections
// agree with each other (an analysis listed belongs to a document listed), and reads each
// section through a server-side cursor, a few rows per FETCH: memory holds one batch,
// whatever the account's size. Every FETCH is its own short statement, so the statement
// timeout and the client-side query deadline bound each batch, not the whole download; a
// slow reader only keeps the transaction open (backpressure: the next batch is fetched when
// the reply stream asks for more). No token hash, password hash or search vector is read.

type Row = Record<string, unknown>;

interface Section {
  name: string;
  /** The select, `$1` being the user id. Its columns are exactly what the export shows. */
  query: string;
  /** Rows per FETCH: small where a row can be large (document text is up to 1 MiB). */
  batch: number;
  timestamps: string[];
}

const TS = (col: string) => `${col}::text as ${col}`;

const PROFILE = `select id, email, full_name, role, preferences, metadata, ${TS('email_verified_at')}, ${TS('disabled_at')}, ${TS('last_login_at')},
  ${TS('created_at')}, ${TS('updated_at')} from users where id = $1 and deleted_at is null`;
const PROFILE_TIMESTAMPS = ['email_verified_at', 'disabled_at', 'last_login_at', 'created_at', 'updated_at'];

const SECTIONS: Section[] = [
  {
    name: 'documents',
    query: `select id, title, description, status, s3_bucket, s3_key, content_type, size_bytes::float8 as size_bytes, sha256, content_text, tags, metadata, analysis_count,
      ${TS('created_at')}, ${TS('updated_at')} from documents where owner_id = $1 order by created_at, id`,
    batch: 16,
    timestamps: ['created_at', 'updated_at'],
  },
  {
    name: 'analyses',
    query: `select id, document_id, kind, model, status, result, error, tokens_used, cost_usd::text as cost_usd, duration_ms,
      ${TS('created_at')}, ${TS('updated_at')} from analyses where owner_id = $1 order by created_at, id`,
    batch: 100,
    timestamps: ['created_at', 'updated_at'],
  },
  {
    name: 'sessions',
    query: `select id, user_agent, host(ip) as ip, aal, ${TS('created_at')}, ${TS('refreshed_at')}, ${TS('expires_at')}, ${TS('revoked_at')}, revoked_reason
      from sessions where user_id = $1 order by created_at, id`,
    batch: 200,
    timestamps: ['created_at', 'refreshed_at', 'expires_at', 'revoked_at'],
  },
  {
    name: 'audit_logs',
    query: `select id::float8 as id, actor_id, action, entity_type, entity_id, request_id, ip, user_agent, changes, ${TS('created_at')}
      from audit_logs where actor_id = $1 order by created_at, id`,
    batch: 200,
    timestamps: ['created_at'],
  },
];

function shaped(row: Row, timestamps: string[]): Row {
  for (const col of timestamps) row[col] = apiTimestamp(row[col] as string | null);
  return row;
}

async function* sections(conn: ReservedSql, userId: string, profile: Row): AsyncGenerator<string> {
  yield `{"format":"offbase.account_export.v1","exported_at":${JSON.stringify(new Date().toISOString())},"user":${JSON.stringify(profile)}`;
  for (const [i, section] of SECTIONS.entries()) {
    const cursor = `offbase_export_${i}`;
    await conn.unsafe(`declare ${cursor} no scroll cursor for ${section.query}`, [userId]);
    yield `,${JSON.stringify(section.name)}:[`;
    let first = true;
    for (;;) {
      const rows = await conn.unsafe<Row[]>(`fetch ${section.batch} from ${cursor}`);
      for (const row of rows) {
        yield `${first ? '' : ','}${JSON.stringify(shaped(row, section.timestamps))}`;
        first = false;
      }
      if (rows.length < section.batch) break;
    }
    await conn.unsafe(`close ${cursor}`);
    yield ']';
  }
  yield '}\n';
}

/**
 * The export of a live account, as text chunks to stream. Opens the snapshot and reads the
 * profile before returning, so a missing account is a clean 404 before any byte is sent.
 * The connection goes back to the pool when the iteration ends, fails or is abandoned (the
 * client went away: the reply stream calls return(), which runs the finally).
 */
/** `sql`: the primary pool (the export must see the user's latest writes). */
export async function accountExport(sql: Sql, userId: string): Promise<AsyncIterableIterator<string>> {
  const release = takeSlot(sql, userId);
  let conn: ReservedSql;
  try {
    conn = await sql.reserve();
  } catch (err) {
    release();
    throw err;
  }
  let profile: Row | undefined;
  try {
    await conn.unsafe('begin isolation level repeatable read read only');
    [profile] = await conn.unsafe<Row[]>(PROFILE, [userId]);
  } catch (err) {
    await end(conn, release);
    throw err;
  }
  if (!profile) {
    await end(conn, release);
    throw new AppError('not_found', { message: 'User not found.' });
  }
  const body = sections(conn, userId, shaped(profile, PROFILE_TIMESTAMPS));
  // Not a generator around `body`: an unstarted generator's return() skips its finally, and
  // the connection must go back however early the reader gives up.
  let open = true;
  const finish = async () => {
    if (open) {
      open = false;
      await end(conn, release);
    }
  };
  return {
    [Symbol.asyncIterator](this: AsyncIterableIterator<string>) {
      return this;
    },
    async next() {
      try {
        const step = await body.next();
        if (step.done) await finish();
        return step;
      } catch (err) {
        await finish();
        throw err;
      }
    },
    async return() {
      await finish();
      return { done: true, value: undefined };
    },
  };
}

async function end(conn: ReservedSql, release: () => void): Promise<void> {
  try {
    await conn.unsafe('rollback');
  } catch {
    // The connection broke (the error reached the caller already); release it all the same.
  } finally {
    conn.release();
    release();
  }
}

// An export holds a pooled connection for as long as its download lasts (EXPORT_TIMEOUT_MS at
// most, and a client that stops reading keeps it that long): one at a time per user, and at
// most a quarter of the pool at once, so exports can never starve the requests of a task.
interface Slots {
  users: Set<string>;
  max: number;
}
const slotsByPool = new WeakMap<Sql, Slots>();

/** Reserves the user's export slot, or refuses (429 while theirs runs, 503 when the task's are all taken); returns its release, callable once. */
function takeSlot(sql: Sql, userId: string): () => void {
  let slots = slotsByPool.get(sql);
  if (!slots) {
    slots = { users: new Set(), max: Math.max(1, Math.floor(Number(sql.options.max) / 4)) };
    slotsByPool.set(sql, slots);
  }
  if (slots.users.has(userId)) throw new AppError('rate_limited', { message: 'An export of this account is already running; try again when it has finished.', retryAfterS: 30 });
  if (slots.users.size >= slots.max) throw new AppError('service_unavailable', { message: 'Too many exports are running; try again shortly.', retryAfterS: 30 });
  slots.users.add(userId);
  let held = true;
  const taken = slots;
  return () => {
    if (held) taken.users.delete(userId);
    held = false;
  };
}
