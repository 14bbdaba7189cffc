import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { randomIp, registerUser } from '../helpers/auth.js';
import { SmtpMailer } from '../../src/plugins/mailer.js';

// A minimal SMTP server: enough of RFC 5321 for nodemailer to deliver one message, so the
// SMTP_URL path is exercised end to end without any mail leaving the machine.
function fakeSmtp(): Promise<{ server: Server; port: number; messages: { from: string; to: string[]; data: string }[] }> {
  const messages: { from: string; to: string[]; data: string }[] = [];
  const server = createServer((socket) => {
    let buffer = '';
    let inData = false;
    let current = { from: '', to: [] as string[], data: '' };
    socket.write('220 fake ESMTP\r\n');
    socket.on('data', (chunk) => {
      buffer += chunk.toString('utf8');
      let i;
      while ((i = buffer.indexOf('\r\n')) >= 0) {
        const line = buffer.slice(0, i);
        buffer = buffer.slice(i + 2);
        if (inData) {
          if (line === '.') {
            inData = false;
            messages.push(current);
            current = { from: '', to: [], data: '' };
            socket.write('250 OK queued\r\n');
          } else current.data += `${line.startsWith('..') ? line.slice(1) : line}\n`;
          continue;
        }
        const cmd = line.slice(0, 4).toUpperCase();
        if (cmd === 'EHLO' || cmd === 'HELO') {
          socket.write('250-fake\r\n250 8BITMIME\r\n');
        } else if (cmd === 'MAIL') {
          current.from = line;
          socket.write('250 OK\r\n');
        } else if (cmd === 'RCPT') {
          current.to.push(line);
          socket.write('250 OK\r\n');
        } else if (cmd === 'DATA') {
          inData = true;
          socket.write('354 go ahead\r\n');
        } else if (cmd === 'QUIT') {
          socket.end('221 bye\r\n');
        } else {
          socket.write('250 OK\r\n');
        }
      }
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as { port: number }).port, messages })));
}

let smtp: Awaited<ReturnType<typeof fakeSmtp>>;
let t: TestApp;
beforeAll(async () => {
  smtp = await fakeSmtp();
  t = await buildTestApp({ SMTP_URL: `smtp://127.0.0.1:${smtp.port}`, MAIL_FROM: 'offbase <auth@example.com>', PUBLIC_URL: 'https://app.example.com' });
});
afterAll(async () => {
  await t?.close();
  await new Promise((r) => smtp?.server.close(r));
});

describe('SMTP mailer (SMTP_URL)', () => {
  it('delivers the reset mail over SMTP from MAIL_FROM; nothing is recorded in memory', async () => {
    const u = await registerUser(t.app);
    const res = await t.app.inject({ method: 'POST', url: '/api/v1/auth/password/forgot', remoteAddress: randomIp(), payload: { email: u.email } });
    expect(res.statusCode).toBe(202);
    for (let i = 0; i < 100 && !smtp.messages.some((m) => m.data.includes('reset-password')); i++) await new Promise((r) => setTimeout(r, 50));
    const mail = smtp.messages.find((m) => m.data.includes('reset-password'))!;
    expect(mail).toBeDefined();
    expect(mail.from).toContain('auth@example.com');
    expect(mail.to.join()).toContain(u.email);
    expect(mail.data).toMatch(/https:\/\/app\.example\.com\/reset-password#token=/);
    expect(t.app.mailer.sent).toBeUndefined();
    expect(t.logs.join('\n')).not.toContain('mail recorded');
  });
});

describe('a hung SMTP server', () => {
  it('fails the send within the greeting timeout instead of holding it open', async () => {
    // Accepts the connection and never says a word, like a server that froze.
    const sockets: Socket[] = [];
    const silent = createServer((socket) => void sockets.push(socket));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const mailer = new SmtpMailer(`smtp://127.0.0.1:${(silent.address() as { port: number }).port}`, 'offbase <auth@example.com>', { connect: 300, greeting: 300, socket: 1000 });
    try {
      const started = Date.now();
      await expect(mailer.send({ to: 'someone@example.com', subject: 'Hello', text: 'Hi' })).rejects.toThrow(/greeting/i);
      expect(Date.now() - started).toBeLessThan(2000);
    } finally {
      mailer.close();
      for (const s of sockets) s.destroy();
      await new Promise((r) => silent.close(r));
    }
  });
});
