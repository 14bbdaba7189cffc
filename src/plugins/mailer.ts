import fp from 'fastify-plugin';
import nodemailer from 'nodemailer';
import SMTPTransport from 'nodemailer/lib/smtp-transport/index.js';
import type { FastifyBaseLogger } from 'fastify';
import type { Config } from '../config.js';
import { tracedFn, tracingActive } from '../observability/tracer.js';

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

/** Milliseconds. nodemailer's own defaults wait up to 2 minutes to connect and an hour idle. */
export interface MailTimeouts {
  connect: number;
  greeting: number;
  /** Inactivity on an open connection. */
  socket: number;
}

// A hung or black-holed SMTP server fails a send within seconds, so undelivered mail is
// logged promptly and sends do not pile up (mail leaves after the reply: no request waits).
export const MAIL_TIMEOUTS: MailTimeouts = { connect: 5000, greeting: 5000, socket: 15_000 };

/** SMTP via nodemailer, from SMTP_URL (smtp:// or smtps://, credentials in the URL). */
export class SmtpMailer implements Mailer {
  private readonly transport: nodemailer.Transporter;
  constructor(
    url: string,
    private readonly from: string,
    timeouts: MailTimeouts = MAIL_TIMEOUTS,
  ) {
    // The transport itself, so the URL and the timeouts merge (createTransport({url}) would
    // keep only what the URL says).
    this.transport = nodemailer.createTransport(
      new SMTPTransport({
        url,
        connectionTimeout: timeouts.connect,
        greetingTimeout: timeouts.greeting,
        socketTimeout: timeouts.socket,
        dnsTimeout: timeouts.connect,
      }),
    );
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

/** With tracing on, each send is a span (no recipient, subject or body in it). */
function traceSends<M extends Mailer>(mailer: M, transport: string): M {
  if (!tracingActive()) return mailer;
  mailer.send = tracedFn('mail.send', mailer.send.bind(mailer), { 'mail.transport': transport });
  return mailer;
}

export default fp<{ config: Config }>(
  async (app, { config }) => {
    if (config.mail.smtpUrl) {
      const mailer = traceSends(new SmtpMailer(config.mail.smtpUrl, config.mail.from), 'smtp');
      app.decorate('mailer', mailer);
      app.addHook('onClose', async () => mailer.close());
    } else {
      if (config.isProduction) app.log.warn('SMTP_URL is not set: emails are recorded in memory and never delivered');
      app.decorate('mailer', traceSends(new RecordingMailer(app.log), 'recording'));
    }
  },
  { name: 'mailer' },
);
