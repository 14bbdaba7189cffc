import { Type, type Static, type TSchema } from '@sinclair/typebox';
import type { User } from '../../db/schema/index.js';
import { Timestamp } from '../../lib/http-schemas.js';
import { JsonObject } from '../../lib/json-depth.js';
import { EMAIL_MAX_LENGTH, EMAIL_MIN_LENGTH, EMAIL_PATTERN } from './email-rule.js';
import { apiTimestamp } from '../../lib/timestamp.js';
import type { IssuedSession } from './sessions.js';

// Request and response shapes of /api/v1/auth. Response schemas list every field that may
// leave, so a hash or token on a row can never be serialized by accident.

// Generous upper bound for the parser; the password policy (8–256) answers weak_password.
const Password = Type.String({ minLength: 1, maxLength: 1024 });
const NewPassword = Type.String({ maxLength: 1024 });
export const Email = Type.String({ pattern: EMAIL_PATTERN, minLength: EMAIL_MIN_LENGTH, maxLength: EMAIL_MAX_LENGTH });
const FullName = Type.Union([Type.String({ maxLength: 200 }), Type.Null()]);
// Preferences are the client's own JSON object, bounded in size by the body limit and in depth.
const Preferences = Type.Record(Type.String(), Type.Unknown(), { maxProperties: 100 });
const PreferencesInput = JsonObject({ maxProperties: 100 });
const OpaqueToken = Type.String({ minLength: 1, maxLength: 200 });
const NullableTimestamp = Type.Union([Timestamp, Type.Null()]);

const strict = { additionalProperties: false } as const;

export const UserView = Type.Object({
  id: Type.String({ format: 'uuid' }),
  email: Type.String(),
  full_name: Type.Union([Type.String(), Type.Null()]),
  role: Type.Union([Type.Literal('user'), Type.Literal('admin')]),
  email_verified: Type.Boolean(),
  preferences: Preferences,
  created_at: Timestamp,
  updated_at: Timestamp,
  last_login_at: NullableTimestamp,
});
export type UserView = Static<typeof UserView>;

/** The session response around a surface's own user object (/api/v1/auth and GoTrue's /auth/v1 share it). */
export const sessionViewOf = <T extends TSchema>(user: T) =>
  Type.Object({
    access_token: Type.String(),
    token_type: Type.Literal('bearer'),
    expires_in: Type.Integer(),
    expires_at: Type.Integer(),
    refresh_token: Type.String(),
    user,
  });
export const SessionView = sessionViewOf(UserView);

/** Register with REQUIRE_EMAIL_VERIFICATION=true: an account, but no session until verified. */
export const PendingVerificationView = Type.Object({
  user: UserView,
  email_verification_required: Type.Literal(true),
});

export const Accepted = Type.Object({ message: Type.String() });

export const RegisterBody = Type.Object({ email: Email, password: NewPassword, full_name: Type.Optional(FullName) }, strict);
export const LoginBody = Type.Object({ email: Email, password: Password }, strict);
export const RefreshBody = Type.Object({ refresh_token: OpaqueToken }, strict);
export const LogoutBody = Type.Union([
  Type.Object({ scope: Type.Optional(Type.Union([Type.Literal('local'), Type.Literal('global'), Type.Literal('others')])) }, strict),
  Type.Null(),
]);
export const ProfileBody = Type.Object({ full_name: Type.Optional(FullName), preferences: Type.Optional(PreferencesInput) }, { ...strict, minProperties: 1 });
export const ChangePasswordBody = Type.Object({ current_password: Password, new_password: NewPassword }, strict);
export const ForgotBody = Type.Object({ email: Email }, strict);
export const ResetBody = Type.Object({ token: OpaqueToken, new_password: NewPassword }, strict);
export const VerifyBody = Type.Object({ token: OpaqueToken }, strict);
export const DeleteAccountBody = Type.Object(
  {
    password: Type.String({ minLength: 1, maxLength: 1024, description: 'The current password.' }),
    code: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'A TOTP or recovery code, required when the account has an active MFA factor.' })),
  },
  strict,
);

const Row = Type.Record(Type.String(), Type.Unknown());
/** The export document (GET /me/export), streamed; the sections are arrays of the user's rows. */
export const AccountExport = Type.Object({
  format: Type.Literal('offbase.account_export.v1'),
  exported_at: Type.String({ format: 'date-time' }),
  user: Type.Object({
    id: Type.String({ format: 'uuid' }),
    email: Type.String(),
    full_name: Type.Union([Type.String(), Type.Null()]),
    role: Type.Union([Type.Literal('user'), Type.Literal('admin')]),
    preferences: Row,
    metadata: Row,
    email_verified_at: NullableTimestamp,
    disabled_at: NullableTimestamp,
    last_login_at: NullableTimestamp,
    created_at: Timestamp,
    updated_at: Timestamp,
  }),
  documents: Type.Array(Row, { description: 'Every document of the user, with content_text.' }),
  analyses: Type.Array(Row),
  sessions: Type.Array(Row, { description: 'Sign-ins: id, user agent, IP, created/refreshed/expires/revoked. No token or hash.' }),
  audit_logs: Type.Array(Row, { description: "The audit rows of the user's own actions." }),
});

export const toUserView = (u: User): UserView => ({
  id: u.id,
  email: u.email,
  full_name: u.full_name,
  role: u.role,
  email_verified: u.email_verified_at !== null,
  preferences: u.preferences,
  created_at: apiTimestamp(u.created_at),
  updated_at: apiTimestamp(u.updated_at),
  last_login_at: apiTimestamp(u.last_login_at),
});

export const toSessionView = (s: IssuedSession) => ({
  access_token: s.accessToken,
  token_type: 'bearer' as const,
  expires_in: s.expiresIn,
  expires_at: s.expiresAt,
  refresh_token: s.refreshToken,
  user: toUserView(s.user),
});
