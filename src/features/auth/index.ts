// The auth feature's public surface for other features (the GoTrue-compatible /auth/v1,
// the importer): one implementation, several HTTP shapes.
export * as authService from './service.js';
export { createSession, rotateRefreshToken, issueAccessToken, hashToken, type IssuedSession, type TokenIssuer } from './sessions.js';
export { hashPassword, verifyPassword, needsRehash, passwordWeaknesses, type Argon2Params } from './passwords.js';
export { normalizeEmail, findUserByEmail, findUserById } from './queries.js';
export { toUserView, toSessionView, UserView, SessionView } from './schemas.js';
