import fp from 'fastify-plugin';
import nodemailer from 'nodemailer';
import type { FastifyBaseLogger } from 'fastify';
import type { Config } from '../config.js';

export interface MailMessage {
  to: string;
  subject: string;
  text: string;
  html?: string;
}

export interface Mailer {
  send(message: MailMessage): Promise<void>;
  /** The recorded messages, newest last: only on the development/test recorder. */
  readonly sent?: readonly MailMessage[];
}

declare module 'fastify' {
  interface FastifyInstance {
    mailer: Mailer;
  }
}

/** SMTP via nodemailer, from SMTP_URL (smtp:// or smtps://, credentials in the URL). */
export class SmtpMailer implements Mailer {
  private readonly transport: nodemailer.Transporter;
  constructor(
    url: string,
    private readonly from: string,
  ) {
    this.transport = nodemailer.createTransport(url);
  }
  async send(message: MailMessage): Promise<void> {
    await this.transport.sendMail({ from: this.from, ...message });
  }
  close() {
    this.transport.close();
  }
}

const KEEP = 200;

/**
 * Development and test: messages are kept in memory (newest last) so a test or a developer
 * can read the link. The log line carries the subject only: the body holds a live token, and
 * a recipient in the log would tell a log reader which addresses have accounts.
 */
export class RecordingMailer implements Mailer {
  readonly sent: MailMessage[] = [];
  constructor(private readonly log: FastifyBaseLogger) {}
  async send(message: MailMessage): Promise<void> {
    this.sent.push(message);
    if (this.sent.length > KEEP) this.sent.shift();
    this.log.info({ subject: message.subject }, 'mail recorded');
  }
}

export default fp<{ config: Config }>(
  async (app, { config }) => {
    if (config.mail.smtpUrl) {
      const mailer = new SmtpMailer(config.mail.smtpUrl, config.mail.from);
      app.decorate('mailer', mailer);
      app.addHook('onClose', async () => mailer.close());
    } else {
      if (config.isProduction) app.log.warn('SMTP_URL is not set: emails are recorded in memory and never delivered');
      app.decorate('mailer', new RecordingMailer(app.log));
    }
  },
  { name: 'mailer' },
);
