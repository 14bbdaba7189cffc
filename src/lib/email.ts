/** Stored form of an email: trimmed and lower-cased (the users_email_check constraint agrees). */
export const normalizeEmail = (email: string) => email.trim().toLowerCase();
