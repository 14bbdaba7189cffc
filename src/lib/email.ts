import type { FastifyRequest } from 'fastify';

/** Stored form of an email: trimmed and lower-cased (the users_email_check constraint agrees). */
export const normalizeEmail = (email: string) => email.trim().toLowerCase();

/**
 * preValidation hook for routes whose body may carry an `email`: emails are compared and
 * stored normalised, so " Ada@Example.com " is accepted as ada@example.com.
 */
export async function normalizeBodyEmail(request: FastifyRequest): Promise<void> {
  const body = request.body as { email?: unknown } | null;
  if (body && typeof body === 'object' && typeof body.email === 'string') body.email = normalizeEmail(body.email);
}
