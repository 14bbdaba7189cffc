import type { Req } from './load.js';
import { BENCH_PASSWORD } from './seed.js';
import { TextGen, documentId, userEmail, userId } from './text.js';

// Request builders for S1–S7 and the B1 floor. Each call returns the next request of a
// rotation over users and documents, so the load is spread over many owners and rows.

export interface Population {
  users: number;
  docsPerUser: number;
  /** Bearer tokens, tokens[i] belongs to user i + 1; shorter than `users` in quick mode. */
  tokens: string[];
  runId: string;
}

const API = '/api/v1';

function rotation(pop: Population) {
  let i = 0;
  return () => {
    const n = i++;
    const t = n % pop.tokens.length;
    // A multiplicative walk visits every document of the user over time, not just the first.
    const d = (n * 7919) % pop.docsPerUser;
    return { n, user: t + 1, doc: d, auth: { authorization: `Bearer ${pop.tokens[t]}` } };
  };
}

/** The headers supabase-js sends with a user's session: the token as the Bearer, the anon key as `apikey`, its client marker. */
const supabaseJs = (auth: Record<string, string>, anonKey: string, extra: Record<string, string> = {}): Record<string, string> => ({
  ...auth,
  apikey: anonKey,
  ...extra,
  'x-client-info': 'supabase-js/2',
});

export const scenarios = {
  list(pop: Population): () => Req {
    const next = rotation(pop);
    return () => ({ method: 'GET', path: `${API}/documents?limit=20`, headers: next().auth });
  },
  /** L2: the page after S1's, through each user's cursor (`cursors[i]` is user i + 1's next_cursor of S1's page). */
  listAfter(pop: Population, cursors: string[]): () => Req {
    const next = rotation(pop);
    return () => {
      const r = next();
      return { method: 'GET', path: `${API}/documents?limit=20&cursor=${encodeURIComponent(cursors[r.user - 1]!)}`, headers: r.auth };
    };
  },
  get(pop: Population): () => Req {
    const next = rotation(pop);
    return () => {
      const r = next();
      return { method: 'GET', path: `${API}/documents/${documentId(r.user, r.doc)}`, headers: r.auth };
    };
  },
  /** S3 over one term list (COMMON_SEARCH_TERMS or RARE_SEARCH_TERMS of text.ts). */
  search(pop: Population, terms: string[]): () => Req {
    const next = rotation(pop);
    return () => {
      const r = next();
      return { method: 'GET', path: `${API}/documents/search?q=${encodeURIComponent(terms[r.n % terms.length]!)}&limit=20`, headers: r.auth };
    };
  },
  create(pop: Population): () => Req {
    const next = rotation(pop);
    const gen = new TextGen(4242);
    return () => {
      const r = next();
      return { method: 'POST', path: `${API}/documents`, headers: r.auth, body: JSON.stringify(newDocument(gen, `${pop.runId}/s4/${r.n}`)) };
    };
  },
  batch(pop: Population, size = 100): () => Req {
    const next = rotation(pop);
    const bodyOf = batchBodies(pop, size, 's5');
    return () => {
      const r = next();
      return { method: 'POST', path: `${API}/documents/batch`, headers: r.auth, body: bodyOf(r.n) };
    };
  },
  /** B4: S4's bodies (same generator seed), the owner in the query string instead of a token. */
  floorCreate(pop: Population): () => Req {
    const next = rotation(pop);
    const gen = new TextGen(4242);
    return () => {
      const r = next();
      return { method: 'POST', path: `/floor/documents?owner=${userId(r.user)}`, body: JSON.stringify(newDocument(gen, `${pop.runId}/b4/${r.n}`)) };
    };
  },
  /** B5: S5's bodies. */
  floorBatch(pop: Population, size = 100): () => Req {
    const next = rotation(pop);
    const bodyOf = batchBodies(pop, size, 'b5');
    return () => {
      const r = next();
      return { method: 'POST', path: `/floor/documents/batch?owner=${userId(r.user)}`, body: bodyOf(r.n) };
    };
  },
  floorLive(): () => Req {
    return () => ({ method: 'GET', path: '/floor/live' });
  },
  login(pop: Population): () => Req {
    let i = 0;
    return () => ({ method: 'POST', path: `${API}/auth/login`, body: JSON.stringify({ email: userEmail((i++ % pop.users) + 1), password: BENCH_PASSWORD }) });
  },
  floorList(pop: Population): () => Req {
    const next = rotation(pop);
    return () => ({ method: 'GET', path: `/floor/documents?owner=${userId(next().user)}&limit=20` });
  },
  floorGet(pop: Population): () => Req {
    const next = rotation(pop);
    return () => {
      const r = next();
      return { method: 'GET', path: `/floor/documents/${documentId(r.user, r.doc)}?owner=${userId(r.user)}` };
    };
  },
  live(): () => Req {
    return () => ({ method: 'GET', path: '/health/live' });
  },
  /** W1: one field of one of the user's documents (which have their text), `PATCH /api/v1/documents/:id`. */
  update(pop: Population): () => Req {
    const next = rotation(pop);
    return () => {
      const r = next();
      return { method: 'PATCH', path: `${API}/documents/${documentId(r.user, r.doc)}`, headers: r.auth, body: JSON.stringify({ status: r.n % 2 ? 'ready' : 'processing' }) };
    };
  },
  /** C3: S4's create as supabase-js sends it, `from('documents').insert(row)` (Prefer: return=minimal). */
  compatInsert(pop: Population, anonKey: string): () => Req {
    const next = rotation(pop);
    const gen = new TextGen(4242);
    return () => {
      const r = next();
      return { method: 'POST', path: '/rest/v1/documents', headers: supabaseJs(r.auth, anonKey, { prefer: 'return=minimal' }), body: JSON.stringify(newDocument(gen, `${pop.runId}/c3/${r.n}`)) };
    };
  },
  /** C4: W1's update as supabase-js sends it, `from('documents').update({ status }).eq('id', id)`. */
  compatUpdate(pop: Population, anonKey: string): () => Req {
    const next = rotation(pop);
    return () => {
      const r = next();
      return {
        method: 'PATCH',
        path: `/rest/v1/documents?id=eq.${documentId(r.user, r.doc)}`,
        headers: supabaseJs(r.auth, anonKey, { prefer: 'return=minimal' }),
        body: JSON.stringify({ status: r.n % 2 ? 'processing' : 'ready' }),
      };
    };
  },
  /** A1: the signed-in user, `GET /api/v1/auth/me`. */
  me(pop: Population): () => Req {
    const next = rotation(pop);
    return () => ({ method: 'GET', path: `${API}/auth/me`, headers: next().auth });
  },
  /** A2: supabase-js `auth.getUser()`, which server-side rendering middleware calls on every page: `GET /auth/v1/user`. */
  compatUser(pop: Population, anonKey: string): () => Req {
    const next = rotation(pop);
    return () => ({ method: 'GET', path: '/auth/v1/user', headers: supabaseJs(next().auth, anonKey) });
  },
  /**
   * C1: S2's read as supabase-js sends it, `from('documents').select(S2's columns).eq('id', id).single()`:
   * the anon key as `apikey`, the user's token as the Bearer, one object asked for by Accept.
   */
  compatGet(pop: Population, anonKey: string): () => Req {
    const next = rotation(pop);
    return () => {
      const r = next();
      return {
        method: 'GET',
        path: `/rest/v1/documents?select=${COMPAT_GET_COLUMNS}&id=eq.${documentId(r.user, r.doc)}`,
        headers: supabaseJs(r.auth, anonKey, { accept: 'application/vnd.pgrst.object+json' }),
      };
    };
  },
  /** C2: S1's page as supabase-js asks for it, `select(S1's columns).order('created_at', { ascending: false }).limit(20)`. */
  compatList(pop: Population, anonKey: string): () => Req {
    const next = rotation(pop);
    return () => ({
      method: 'GET',
      path: `/rest/v1/documents?select=${COMPAT_LIST_COLUMNS}&order=created_at.desc&limit=20`,
      headers: supabaseJs(next().auth, anonKey),
    });
  },
};

/** The columns of S1's page and of S2's document (bench/lib/sql.ts's floors select the same). */
const COMPAT_LIST_COLUMNS = 'id,owner_id,title,description,status,s3_bucket,s3_key,content_type,size_bytes,sha256,tags,metadata,analysis_count,created_at,updated_at';
const COMPAT_GET_COLUMNS = `${COMPAT_LIST_COLUMNS},content_text`;

/** Batch bodies that differ only in their keys: the items are built once, keys stamped per request. */
function batchBodies(pop: Population, size: number, tag: string): (n: number) => string {
  const gen = new TextGen(4343);
  const items = Array.from({ length: size }, () => newDocument(gen, ''));
  return (n) => JSON.stringify({ documents: items.map((item, k) => ({ ...item, s3_key: `${pop.runId}/${tag}/${n}/${k}` })) });
}

/**
 * A document as an upload pipeline registers it: metadata, no extracted text yet (text
 * extraction fills content_text later with a PATCH). See docs/benchmarks.md.
 */
function newDocument(gen: TextGen, key: string) {
  return {
    title: gen.title(),
    description: gen.sentence(),
    s3_bucket: 'bench-writes',
    s3_key: key,
    content_type: 'application/pdf',
    size_bytes: gen.int(10_000, 5_000_000),
    tags: gen.tags(),
    metadata: { pages: gen.int(1, 80), source: 'bench' },
  };
}
