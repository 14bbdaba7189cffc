import type { FastifyRequest } from 'fastify';
import { normalizeEmail } from '../lib/email.js';

/**
 * preValidation hook for routes whose body may carry an `email`: emails are compared and
 * stored normalised, so " Ada@Example.com " is accepted as ada@example.com.
 */
export async function normalizeBodyEmail(request: FastifyRequest): Promise<void> {
  const body = request.body as { email?: unknown } | null;
  if (body && typeof body === 'object' && typeof body.email === 'string') body.email = normalizeEmail(body.email);
}
