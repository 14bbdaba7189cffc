import { randomBytes, randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { RecordingMailer, type MailMessage } from '../../src/plugins/mailer.js';

export const STRONG_PASSWORD = 'correct-horse-battery-staple-42';

export interface RegisteredUser {
  id: string;
  email: string;
  password: string;
  accessToken: string;
  refreshToken: string;
  sessionId: string;
  headers: { authorization: string };
}

/**
 * A random client address per call: helpers never share a per-IP rate-limit budget, so
 * suites that register many users stay clear of the auth limits.
 */
export const randomIp = () => `10.${randomBytes(3).join('.')}`;

const sidOf = (token: string) => (JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { sid: string }).sid;

/** Registers through the real POST /api/v1/auth/register and returns the session it got. */
export async function registerUser(
  app: FastifyInstance,
  opts: { email?: string; password?: string; full_name?: string; remoteAddress?: string } = {},
): Promise<RegisteredUser> {
  const email = opts.email ?? `user-${randomUUID().slice(0, 8)}@example.com`;
  const password = opts.password ?? STRONG_PASSWORD;
  const res = await app.inject({
    method: 'POST',
    url: '/api/v1/auth/register',
    remoteAddress: opts.remoteAddress ?? randomIp(),
    payload: { email, password, ...(opts.full_name ? { full_name: opts.full_name } : {}) },
  });
  if (res.statusCode !== 201 || !res.json().access_token) throw new Error(`register failed: ${res.statusCode} ${res.body}`);
  const body = res.json();
  return {
    id: body.user.id,
    email: body.user.email,
    password,
    accessToken: body.access_token,
    refreshToken: body.refresh_token,
    sessionId: sidOf(body.access_token),
    headers: { authorization: `Bearer ${body.access_token}` },
  };
}

/** Logs in through the real endpoint; returns the raw response for assertions. */
export function login(app: FastifyInstance, email: string, password: string, remoteAddress = randomIp()) {
  return app.inject({ method: 'POST', url: '/api/v1/auth/login', remoteAddress, payload: { email, password } });
}

/** The recording mailer's messages (dev/test mailer). */
export function mailbox(app: FastifyInstance): MailMessage[] {
  if (!(app.mailer instanceof RecordingMailer)) throw new Error('app.mailer is not the recording mailer');
  return app.mailer.sent;
}

/** The token in the newest mail to this address with a link to the given page. */
export function tokenFromMail(app: FastifyInstance, to: string, page: 'reset-password' | 'verify-email'): string {
  const mail = mailbox(app)
    .filter((m) => m.to === to && m.text.includes(`/${page}#token=`))
    .at(-1);
  if (!mail) throw new Error(`no ${page} mail to ${to}`);
  return /#token=([A-Za-z0-9_-]+)/.exec(mail.text)![1]!;
}
