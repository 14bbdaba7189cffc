import type { MailMessage } from '../../plugins/mailer.js';

// The token travels in the URL fragment: browsers never send a fragment to a server, so it
// stays out of access logs, proxies and Referer headers. The page at that path reads it and
// POSTs it to the API.

export function passwordResetMail(publicUrl: string, to: string, token: string): MailMessage {
  const link = `${publicUrl}/reset-password#token=${token}`;
  return {
    to,
    subject: 'Reset your password',
    text: `Someone asked to reset the password for ${to}.\n\nTo choose a new password, open this link within one hour:\n${link}\n\nIf it was not you, ignore this message; your password is unchanged.\n`,
  };
}

export function verificationMail(publicUrl: string, to: string, token: string): MailMessage {
  const link = `${publicUrl}/verify-email#token=${token}`;
  return {
    to,
    subject: 'Confirm your email address',
    text: `Confirm that ${to} is your email address by opening this link within 24 hours:\n${link}\n`,
  };
}
