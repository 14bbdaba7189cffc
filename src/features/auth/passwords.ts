import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import argon2 from 'argon2';
import pLimit from 'p-limit';
import { verify as bcryptVerify } from '@node-rs/bcrypt';
import { dictionary } from '@zxcvbn-ts/language-common';
import { FirebaseScrypt } from 'firebase-scrypt';
import { AppError } from '../../errors/app-error.js';
import { lowerThreadPoolPriority } from '../../lib/thread-pool.js';
import { shareCoresWithRequests } from './hash-share.js';
import { traced } from '../../observability/tracer.js';

// Password hashing and policy. No HTTP here: the /api/v1 and the GoTrue-compatible
// surfaces both call these functions.

export interface Argon2Params {
  memoryCost: number;
  timeCost: number;
  parallelism: number;
  /** PASSWORD_HASH_QUEUE_TIMEOUT_MS: the longest a hash or verification waits for its turn. */
  queueTimeoutMs?: number;
}

export const PASSWORD_MIN_LENGTH = 8;
export const PASSWORD_MAX_LENGTH = 256;
// bcrypt only reads the first 72 bytes; a longer candidate can never be the password a
// bcrypt hash was made from (GoTrue refuses longer ones), so it must not "match" by truncation.
const BCRYPT_MAX_BYTES = 72;

// Hashing runs on libuv's thread pool, off the event loop, but each hash saturates a core:
// with four pool threads on a two-core task a login storm would starve every other request
// of CPU. At most cores − 1 hashes run at once (at least one); the rest queue. Once the pool
// runs below the event loop's priority (hashOnEveryCore) the kernel keeps the CPU for reads
// itself, and hashes may use every core.
const hashing = pLimit(Math.max(1, availableParallelism() - 1));

/**
 * Lowers libuv's pool below the event loop (lib/thread-pool.ts, Linux) and then lets as many
 * hashes run at once as there are cores while the event loop is mostly idle, cores − 1 while it
 * is busy with other requests (hash-share.ts): a login storm uses idle CPU, and yields it to
 * requests. Returns false, changing nothing, where the pool's threads cannot be found.
 */
export function hashOnEveryCore(): Promise<boolean> {
  // Once per process, however many apps it builds (tests build many).
  return (everyCore ??= lowerThreadPoolPriority().then((lowered) => {
    if (lowered) {
      hashing.concurrency = Math.max(1, availableParallelism());
      shareCoresWithRequests(hashing, availableParallelism());
    }
    return lowered;
  }));
}
let everyCore: Promise<boolean> | undefined;

/**
 * Runs fn in the hashing queue. One still waiting for its turn after queueTimeoutMs never
 * runs and fails with 503 instead: under a login storm the queue stays short, and no CPU
 * goes to hashes whose requests have given up.
 */
function queued<T>(fn: () => Promise<T>, queueTimeoutMs: number | undefined): Promise<T> {
  if (!queueTimeoutMs) return hashing(fn);
  return new Promise<T>((resolve, reject) => {
    let expired = false;
    const timer = setTimeout(() => {
      expired = true;
      reject(new AppError('service_unavailable', { message: 'Too many password checks are waiting; try again shortly.', retryAfterS: 5 }));
    }, queueTimeoutMs);
    void hashing(async () => {
      if (expired) return;
      clearTimeout(timer);
      try {
        resolve(await fn());
      } catch (err) {
        reject(err);
      }
    });
  });
}

/** argon2id PHC string; the native library hashes on libuv's thread pool, off the event loop. */
export function hashPassword(password: string, params: Argon2Params): Promise<string> {
  const { memoryCost, timeCost, parallelism, queueTimeoutMs } = params;
  return traced('password.hash', () => queued(() => argon2.hash(password, { type: argon2.argon2id, memoryCost, timeCost, parallelism }), queueTimeoutMs), {
    'password.algorithm': 'argon2id',
  });
}

const BCRYPT = /^\$2[aby]\$\d{2}\$[./A-Za-z0-9]{53}$/;
const ARGON2 = /^\$argon2(id|i|d)\$v=(\d+)\$m=(\d+),t=(\d+),p=(\d+)\$/;

// Firebase's modified scrypt in GoTrue's self-contained form (the importer writes the project's
// salt separator and signer key into hashes that lacked them): verified, then re-hashed.
// p is always 1 for Firebase; scrypt's memory stays within Node's default limit at n ≤ 15.
export const FIREBASE_SCRYPT = /^\$fbscrypt\$v=1,n=(\d{1,2}),r=(\d{1,2}),p=1,ss=([A-Za-z0-9+/=_-]*),sk=([A-Za-z0-9+/=_-]+)\$([A-Za-z0-9+/=_-]+)\$([A-Za-z0-9+/=_-]+)$/;

async function verifyFirebaseScrypt(hash: string, password: string): Promise<boolean> {
  const [, n, r, saltSeparator, signerKey, salt, expected] = FIREBASE_SCRYPT.exec(hash)!;
  const memCost = Number(n);
  const rounds = Number(r);
  if (memCost < 1 || memCost > 15 || rounds < 1 || 128 * 2 ** memCost * rounds > 32 * 1024 * 1024) return false;
  const scrypt = new FirebaseScrypt({ memCost, rounds, saltSeparator: saltSeparator!, signerKey: signerKey! });
  return hashing(() => scrypt.verify(password, salt!, expected!));
}

export interface VerifyResult {
  ok: boolean;
  /** The hash is bcrypt, or argon2 weaker than the configured parameters: store a new one. */
  needsRehash: boolean;
}

export function needsRehash(hash: string, params: Argon2Params): boolean {
  const m = ARGON2.exec(hash);
  if (!m) return true;
  const [, variant, version, memory, time, parallelism] = m;
  return (
    variant !== 'id' ||
    Number(version) !== 19 ||
    Number(memory) < params.memoryCost ||
    Number(time) < params.timeCost ||
    Number(parallelism) < params.parallelism
  );
}

/** Checks a password against an argon2, bcrypt ($2a$/$2b$/$2y$) or Firebase scrypt hash; never throws on a malformed hash. */
export function verifyPassword(hash: string, password: string, params: Argon2Params): Promise<VerifyResult> {
  return traced('password.verify', () => checkPassword(hash, password, params));
}

async function checkPassword(hash: string, password: string, params: Argon2Params): Promise<VerifyResult> {
  try {
    if (BCRYPT.test(hash)) {
      if (Buffer.byteLength(password) > BCRYPT_MAX_BYTES) return { ok: false, needsRehash: true };
      return { ok: await queued(() => bcryptVerify(password, hash), params.queueTimeoutMs), needsRehash: true };
    }
    if (ARGON2.test(hash)) {
      const ok = await queued(() => argon2.verify(hash, password), params.queueTimeoutMs);
      return { ok, needsRehash: ok && needsRehash(hash, params) };
    }
    if (FIREBASE_SCRYPT.test(hash)) {
      if (!password) return { ok: false, needsRehash: false };
      return { ok: await verifyFirebaseScrypt(hash, password), needsRehash: true };
    }
  } catch (err) {
    // A corrupt hash is a failed login, not a 500; a full queue is a 503, not a failed login.
    if (err instanceof AppError) throw err;
  }
  return { ok: false, needsRehash: false };
}

// A hash of a random password with the configured parameters: verifying against it costs
// what a real verification costs, so an unknown email answers as slowly as a wrong password.
const dummyHashes = new Map<string, Promise<string>>();
export function dummyHash(params: Argon2Params): Promise<string> {
  const key = `${params.memoryCost}:${params.timeCost}:${params.parallelism}`;
  let hash = dummyHashes.get(key);
  if (!hash) {
    hash = hashPassword(randomBytes(24).toString('base64url'), params);
    // A failure (the hashing queue was full) is not remembered: the next login tries again.
    hash.catch(() => dummyHashes.delete(key));
    dummyHashes.set(key, hash);
  }
  return hash;
}

/** Burns one verification's worth of time for a login that will fail anyway. */
export async function verifyDummy(password: string, params: Argon2Params): Promise<void> {
  await verifyPassword(await dummyHash(params), password, params);
}

// zxcvbn-ts's list of ~50k commonly used passwords (lower-case), maintained upstream.
const COMMON = new Set(dictionary['passwords-common']);

export type WeakReason = 'too_short' | 'too_long' | 'contains_email' | 'common_password';

export interface Weakness {
  reason: WeakReason;
  message: string;
}

/** Everything wrong with a new password; empty when it is acceptable. */
export function passwordWeaknesses(password: string, email: string): Weakness[] {
  const reasons: Weakness[] = [];
  const length = [...password].length;
  if (length < PASSWORD_MIN_LENGTH) reasons.push({ reason: 'too_short', message: `must be at least ${PASSWORD_MIN_LENGTH} characters` });
  if (length > PASSWORD_MAX_LENGTH) reasons.push({ reason: 'too_long', message: `must be at most ${PASSWORD_MAX_LENGTH} characters` });
  const lower = password.toLowerCase();
  const normalizedEmail = email.trim().toLowerCase();
  const local = normalizedEmail.split('@')[0] ?? '';
  if (normalizedEmail && (lower.includes(normalizedEmail) || lower === local)) {
    reasons.push({ reason: 'contains_email', message: 'must not be or contain the email address' });
  }
  if (COMMON.has(lower)) reasons.push({ reason: 'common_password', message: 'is a commonly used password' });
  return reasons;
}
