import type { FastifyReply, FastifyRequest } from 'fastify';

/**
 * onSend hook of both auth surfaces (/api/v1/auth, /auth/v1): their responses carry tokens,
 * sessions and the user's own data, which no browser or shared cache may keep (RFC 6749
 * §5.1 asks it of every token response). Errors included, so no route can forget it.
 */
export async function noStore(_request: FastifyRequest, reply: FastifyReply, payload: unknown): Promise<unknown> {
  reply.header('cache-control', 'no-store');
  return payload;
}
