// The one timestamp format of the native API (/api/v1): RFC 3339 in UTC with exactly six
// fractional digits and a Z, e.g. 2026-01-02T03:04:05.123456Z. Microseconds are what
// PostgreSQL stores, so a value sent back (a created_after filter, a since= bound) names the
// same instant; fixed width keeps the strings' order the instants' order. The compatibility
// surfaces keep their own formats (PostgREST's in compat/rest/read.ts, GoTrue's in
// compat/auth/shapes.ts).

// PostgreSQL's timestamptz output ("2026-01-02 03:04:05.123+00", "+05:30", "-03:30:45"
// before 1900) or RFC 3339 text.
const TIMESTAMPTZ = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?(?:Z|([+-])(\d{2})(?::?(\d{2}))?(?::?(\d{2}))?)$/;

/** A timestamptz value as the native API's text. Text with no RFC 3339 form (infinity, BC) is returned as it is. */
export function apiTimestamp(value: string): string;
export function apiTimestamp(value: string | null): string | null;
export function apiTimestamp(value: string | null): string | null {
  if (value === null) return null;
  const fast = utcText(value);
  if (fast !== null) return fast;
  const m = TIMESTAMPTZ.exec(value);
  if (!m) return value;
  const [, year, month, day, hour, minute, second, fraction = '', sign, offH = '0', offM = '0', offS = '0'] = m;
  const micros = fraction.padEnd(6, '0');
  const offset = (sign === '-' ? -1 : 1) * (Number(offH) * 3600 + Number(offM) * 60 + Number(offS));
  if (offset === 0) return `${year}-${month}-${day}T${hour}:${minute}:${second}.${micros}Z`;
  // Another session time zone: shift the whole seconds, keep the microseconds.
  const utc = new Date(0);
  utc.setUTCFullYear(Number(year), Number(month) - 1, Number(day));
  utc.setUTCHours(Number(hour), Number(minute), Number(second) - offset);
  return `${utc.toISOString().slice(0, 19)}.${micros}Z`;
}

const ZEROS = '000000';

/**
 * The common case without a regular expression: PostgreSQL's text of a UTC instant,
 * "YYYY-MM-DD HH:MM:SS[.f{1,6}]+00" (a session in UTC, as the pool's are). Null for any other
 * text, which the general path handles.
 */
function utcText(value: string): string | null {
  const n = value.length;
  // 22: no fraction; 24..29: one to six fractional digits.
  if (n < 22 || n > 29 || n === 23 || value.charCodeAt(10) !== 32 || value.charCodeAt(n - 3) !== 43 || value.charCodeAt(n - 2) !== 48 || value.charCodeAt(n - 1) !== 48) return null;
  if (value.charCodeAt(4) !== 45 || value.charCodeAt(7) !== 45 || value.charCodeAt(13) !== 58 || value.charCodeAt(16) !== 58) return null;
  for (const i of DIGITS) {
    const c = value.charCodeAt(i);
    if (c < 48 || c > 57) return null;
  }
  const date = value.slice(0, 10);
  const time = value.slice(11, 19);
  if (n === 22) return `${date}T${time}.${ZEROS}Z`;
  if (value.charCodeAt(19) !== 46) return null;
  const fraction = value.slice(20, n - 3);
  for (let i = 0; i < fraction.length; i++) {
    const c = fraction.charCodeAt(i);
    if (c < 48 || c > 57) return null;
  }
  return `${date}T${time}.${fraction.length === 6 ? fraction : fraction + ZEROS.slice(fraction.length)}Z`;
}
const DIGITS = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18];
