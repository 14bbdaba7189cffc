import postgres from 'postgres';
import { mintSession } from '../../test/helpers/tokens.js';
import { BENCH_PASSWORD } from './seed.js';
import { userEmail, userId } from './text.js';

/**
 * Access tokens for users 1..count: by logging in through the API like a client would, or,
 * when the API has no login route, by minting sessions with the API's own secret (the
 * tokens verify exactly like issued ones).
 */
export async function acquireTokens(baseUrl: string, dbUrl: string, secret: string, count: number, log: (m: string) => void): Promise<{ tokens: string[]; via: string }> {
  const login = async (u: number): Promise<Response> =>
    fetch(`${baseUrl}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: userEmail(u), password: BENCH_PASSWORD }),
    });
  const probe = await login(1);
  if (probe.status === 200) {
    const tokens: string[] = new Array(count);
    tokens[0] = ((await probe.json()) as { access_token: string }).access_token;
    let next = 2;
    // A few at a time: argon2 runs on the libuv pool, more in flight only queues.
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        while (next <= count) {
          const u = next++;
          const res = await login(u);
          if (res.status !== 200) throw new Error(`login of bench user ${u} answered ${res.status}: ${await res.text()}`);
          tokens[u - 1] = ((await res.json()) as { access_token: string }).access_token;
        }
      }),
    );
    return { tokens, via: 'POST /api/v1/auth/login' };
  }
  log(`login answered ${probe.status}; minting sessions directly`);
  const sql = postgres(dbUrl, { max: 2, onnotice: () => {} });
  try {
    const tokens: string[] = [];
    for (let u = 1; u <= count; u++) {
      tokens.push((await mintSession(sql, { id: userId(u), email: userEmail(u) }, secret, { ttlS: 3600 })).token);
    }
    return { tokens, via: 'minted sessions (no login route)' };
  } finally {
    await sql.end();
  }
}
