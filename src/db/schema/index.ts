export * from './users.js';
export * from './sessions.js';
export * from './documents.js';
export * from './analyses.js';
export * from './audit-logs.js';
export * from './rate-limits.js';
export * from './mfa.js';
