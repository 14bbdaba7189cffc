import { Type } from '@sinclair/typebox';
import type { MfaFactor } from '../../../db/schema/index.js';
import { Nullable, Timestamp, Uuid, WellFormedText } from '../../../lib/http-schemas.js';
import { apiTimestamp } from '../../../lib/timestamp.js';
import { SessionView, UserView } from '../schemas.js';

// Request and response shapes of /api/v1/auth/mfa and /api/v1/auth/sessions.

const strict = { additionalProperties: false } as const;
export const FriendlyName = WellFormedText({ minLength: 1, maxLength: 100 });
/** A 6-digit TOTP code (spaces allowed, as apps show "123 456"). */
export const TotpCode = Type.String({ minLength: 6, maxLength: 12, pattern: '^[0-9 ]+$' });
const RecoveryCode = Type.String({ minLength: 8, maxLength: 40 });

export const EnrollBody = Type.Object({ friendly_name: Type.Optional(FriendlyName), issuer: Type.Optional(WellFormedText({ minLength: 1, maxLength: 100 })) }, strict);
export const FactorParams = Type.Object({ id: Uuid });
export const VerifyBody = Type.Object({ challenge_id: Uuid, code: TotpCode }, strict);
export const RecoveryBody = Type.Object({ code: RecoveryCode }, strict);

export const FactorView = Type.Object({
  id: Uuid,
  type: Type.Literal('totp'),
  friendly_name: Nullable(Type.String()),
  status: Type.Union([Type.Literal('unverified'), Type.Literal('verified')]),
  created_at: Timestamp,
  updated_at: Timestamp,
  verified_at: Nullable(Timestamp),
});

export const EnrollView = Type.Object({
  ...FactorView.properties,
  /** Base32; shown this once, never again. */
  secret: Type.String(),
  uri: Type.String(),
  /** The otpauth:// URI as an SVG QR code. */
  qr_code: Type.String(),
});

export const FactorList = Type.Object({ data: Type.Array(FactorView), recovery_codes_remaining: Type.Integer() });
export const ChallengeView = Type.Object({ id: Uuid, expires_at: Type.Integer({ description: 'Unix seconds' }) });
export const VerifiedView = Type.Object({ ...SessionView.properties, user: UserView, recovery_codes: Nullable(Type.Array(Type.String())) });
export const RecoveryCodesView = Type.Object({ codes: Type.Array(Type.String()) });

export const SessionInfoView = Type.Object({
  id: Uuid,
  current: Type.Boolean(),
  created_at: Timestamp,
  last_used_at: Timestamp,
  expires_at: Timestamp,
  ip: Nullable(Type.String()),
  user_agent: Nullable(Type.String()),
  aal: Type.Union([Type.Literal('aal1'), Type.Literal('aal2')]),
});
export const SessionList = Type.Object({ data: Type.Array(SessionInfoView) });
export const RevokedView = Type.Object({ revoked: Type.Integer() });

export const toFactorView = (f: MfaFactor) => ({
  id: f.id,
  type: 'totp' as const,
  friendly_name: f.friendly_name,
  status: f.status,
  created_at: apiTimestamp(f.created_at),
  updated_at: apiTimestamp(f.updated_at),
  verified_at: apiTimestamp(f.verified_at),
});
