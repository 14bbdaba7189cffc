import type { FastifyBaseLogger } from 'fastify';
import type { Mailer, MailMessage } from '../../plugins/mailer.js';

// Security notices: a mail telling the account's owner that something security-relevant
// happened to the account, so a change they did not make is noticed. A notice never carries
// a token or link that acts on the account (a leaked notice grants nothing), only what
// happened and when. It leaves after the reply, and a failed delivery never fails the action
// it reports: it is logged with the notice's kind, without the address.

export type NoticeKind = 'password_changed' | 'password_reset' | 'email_changed' | 'mfa_factor_added' | 'mfa_factor_removed' | 'account_deleted';

export interface NoticeSender {
  mailer: Mailer;
  log: FastifyBaseLogger;
}

export interface NoticeDetails {
  /** email_changed: the new address (the notice goes to the old one). */
  newEmail?: string;
  /** mfa_factor_added / mfa_factor_removed: the factor's friendly name. */
  factorName?: string | null;
  /** account_deleted: deleted by an administrator rather than by the owner. */
  byAdmin?: boolean;
}

const IF_NOT_YOU = 'If this was not you, reset your password at once and contact support.';

function noticeText(kind: NoticeKind, to: string, details: NoticeDetails): { subject: string; body: string } {
  const factor = details.factorName ? ` ("${details.factorName}")` : '';
  switch (kind) {
    case 'password_changed':
      return { subject: 'Your password was changed', body: `The password of the account ${to} was changed. Your other sessions were signed out.\n\n${IF_NOT_YOU}` };
    case 'password_reset':
      return { subject: 'Your password was reset', body: `The password of the account ${to} was reset with a link mailed to this address. Every session was signed out.\n\n${IF_NOT_YOU}` };
    case 'email_changed':
      return {
        subject: 'Your email address was changed',
        body: `The email address of the account ${to} was changed to ${details.newEmail ?? 'another address'}. Mail about the account now goes there.\n\n${IF_NOT_YOU}`,
      };
    case 'mfa_factor_added':
      return { subject: 'A sign-in factor was added', body: `An authenticator app${factor} was added to the account ${to} for two-step sign-in.\n\n${IF_NOT_YOU}` };
    case 'mfa_factor_removed':
      return { subject: 'A sign-in factor was removed', body: `An authenticator app${factor} was removed from the account ${to}.\n\n${IF_NOT_YOU}` };
    case 'account_deleted':
      return {
        subject: 'Your account was deleted',
        body: `The account ${to} was deleted${details.byAdmin ? ' by an administrator' : ''}: its documents and analyses are gone and it can no longer sign in. You may register again with this address.\n\nIf this was not you, contact support.`,
      };
  }
}

export function noticeMail(kind: NoticeKind, to: string, details: NoticeDetails = {}): MailMessage {
  const { subject, body } = noticeText(kind, to, details);
  return { to, subject, text: `${body}\n\nTime: ${new Date().toISOString()}\n` };
}

/** Sends the notice after the caller's action has committed; never throws, never waits. */
export function sendNotice(sender: NoticeSender, kind: NoticeKind, to: string, details: NoticeDetails = {}): void {
  let message: MailMessage;
  try {
    message = noticeMail(kind, to, details);
  } catch (err) {
    sender.log.error({ err: (err as Error).message, notice: kind }, 'security notice not built');
    return;
  }
  // A sync throw from a broken mailer is a failed delivery too, not a failed action.
  Promise.resolve()
    .then(() => sender.mailer.send(message))
    .catch((err: Error) => sender.log.error({ err: err.message, notice: kind }, 'mail delivery failed'));
}

// One function per event, for the call sites (the mfa feature calls the factor ones).
export const notifyPasswordChanged = (sender: NoticeSender, to: string) => sendNotice(sender, 'password_changed', to);
export const notifyPasswordReset = (sender: NoticeSender, to: string) => sendNotice(sender, 'password_reset', to);
export const notifyEmailChanged = (sender: NoticeSender, oldEmail: string, newEmail: string) => sendNotice(sender, 'email_changed', oldEmail, { newEmail });
export const notifyMfaFactorAdded = (sender: NoticeSender, to: string, factorName?: string | null) => sendNotice(sender, 'mfa_factor_added', to, { factorName });
export const notifyMfaFactorRemoved = (sender: NoticeSender, to: string, factorName?: string | null) => sendNotice(sender, 'mfa_factor_removed', to, { factorName });
export const notifyAccountDeleted = (sender: NoticeSender, to: string, byAdmin = false) => sendNotice(sender, 'account_deleted', to, { byAdmin });
