import { AppError } from '../../errors/app-error.js';

/** The ETag header value for a row's etag hash. */
export const etagHeader = (hash: string) => `"${hash}"`;

/**
 * If-Match / If-None-Match: `*` or a list of entity tags. Weak tags (W/"x") are accepted as
 * their opaque value, since every representation of one row version is the same.
 */
export function parseEtags(header: string | undefined): string[] | '*' | undefined {
  if (header === undefined) return undefined;
  const value = header.trim();
  if (value === '*') return '*';
  // Tags we could never have issued are dropped; when none is left, nothing can match.
  const tags = value
    .split(',')
    .map((t) => t.trim().replace(/^W\//, '').replace(/^"(.*)"$/, '$1'))
    .filter((t) => /^[0-9a-f]{32}$/.test(t));
  if (!tags.length) {
    // Cannot match any version we ever issued.
    throw new AppError('precondition_failed', { message: 'If-Match does not match the current version of the resource.' });
  }
  return tags;
}

export function etagMatches(header: string | undefined, current: string): boolean {
  const tags = header === undefined ? undefined : header.trim() === '*' ? '*' : header.split(',').map((t) => t.trim().replace(/^W\//, '').replace(/^"(.*)"$/, '$1'));
  return tags === '*' || (tags?.includes(current) ?? false);
}
