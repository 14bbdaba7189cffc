// What offbase accepts as an email address: one rule for register, login, password/forgot and
// the Supabase importer, so an imported account is never one its owner cannot sign in to.
// It is the usual ASCII address (what JSON Schema's "email" format accepts) extended to
// internationalized addresses (RFC 6531): letters, marks and digits of any script in the local
// part and in domain labels, e.g. zoë@exämple.com.

const ATOM = String.raw`[\p{L}\p{M}\p{N}!#$%&'*+/=?^_\x60{|}~-]+`;
const LABEL = String.raw`[\p{L}\p{M}\p{N}](?:[\p{L}\p{M}\p{N}-]{0,61}[\p{L}\p{M}\p{N}])?`;

/** Dot-separated atoms, @, two or more dot-separated labels. For JSON Schema `pattern` (Ajv compiles it with the u flag). */
export const EMAIL_PATTERN = `^${ATOM}(?:\\.${ATOM})*@(?:${LABEL}\\.)+${LABEL}$`;
export const EMAIL_MIN_LENGTH = 3;
export const EMAIL_MAX_LENGTH = 320;

const EMAIL = new RegExp(EMAIL_PATTERN, 'u');

/** True when offbase's auth routes accept the (already trimmed) address. */
export function isAcceptedEmail(email: string): boolean {
  const length = [...email].length;
  return length >= EMAIL_MIN_LENGTH && length <= EMAIL_MAX_LENGTH && EMAIL.test(email);
}
