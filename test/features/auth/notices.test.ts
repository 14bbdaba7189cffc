import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { noticeMail, sendNotice, type NoticeKind } from '../../../src/features/auth/notices.js';
import { buildTestApp, type TestApp } from '../../helpers/app.js';
import { mailbox, randomIp, registerUser, tokenFromMail } from '../../helpers/auth.js';

let t: TestApp;

beforeAll(async () => {
  t = await buildTestApp();
});
afterAll(async () => {
  await t?.close();
});

const settle = () => new Promise((r) => setTimeout(r, 50));
const noticesTo = (to: string, subject: string) => mailbox(t.app).filter((m) => m.to === to && m.subject === subject);

describe('security notices', () => {
  it('a password change mails the owner, with no token or link', async () => {
    const user = await registerUser(t.app);
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/password/change',
      headers: user.headers,
      remoteAddress: randomIp(),
      payload: { current_password: user.password, new_password: 'another-strong-passphrase-77' },
    });
    expect(res.statusCode).toBe(204);
    await settle();
    const [notice] = noticesTo(user.email, 'Your password was changed');
    expect(notice).toBeDefined();
    expect(notice!.text).not.toMatch(/token|https?:\/\//i);
    expect(notice!.text).not.toContain(user.accessToken);
  });

  it('a failed password change sends no notice', async () => {
    const user = await registerUser(t.app);
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/password/change',
      headers: user.headers,
      remoteAddress: randomIp(),
      payload: { current_password: 'wrong-password-here', new_password: 'another-strong-passphrase-77' },
    });
    expect(res.statusCode).toBe(401);
    await settle();
    expect(noticesTo(user.email, 'Your password was changed')).toHaveLength(0);
  });

  it('a password reset mails the owner a notice (without the reset token)', async () => {
    const user = await registerUser(t.app);
    await t.app.inject({ method: 'POST', url: '/api/v1/auth/password/forgot', remoteAddress: randomIp(), payload: { email: user.email } });
    await settle();
    const token = tokenFromMail(t.app, user.email, 'reset-password');
    const res = await t.app.inject({ method: 'POST', url: '/api/v1/auth/password/reset', remoteAddress: randomIp(), payload: { token, new_password: 'reset-strong-passphrase-88' } });
    expect(res.statusCode).toBe(204);
    await settle();
    const [notice] = noticesTo(user.email, 'Your password was reset');
    expect(notice).toBeDefined();
    expect(notice!.text).not.toContain(token);
    expect(notice!.text).not.toMatch(/#token=|https?:\/\//);
  });

  it('every kind has its own subject and never a link', () => {
    const kinds: NoticeKind[] = ['password_changed', 'password_reset', 'email_changed', 'mfa_factor_added', 'mfa_factor_removed', 'account_deleted'];
    const mails = kinds.map((k) => noticeMail(k, 'old@example.com', { newEmail: 'new@example.com', factorName: 'Phone' }));
    expect(new Set(mails.map((m) => m.subject)).size).toBe(kinds.length);
    for (const m of mails) {
      expect(m.to).toBe('old@example.com');
      expect(m.text).not.toMatch(/https?:\/\/|token/i);
    }
    expect(mails[2]!.text).toContain('new@example.com');
    expect(mails[3]!.text).toContain('Phone');
  });

  it('a failing mailer (rejecting or throwing) never throws to the caller; the log has no address', async () => {
    const lines: unknown[] = [];
    const log = { error: (obj: unknown) => lines.push(obj) } as never;
    const rejecting = { send: () => Promise.reject(new Error('smtp down')) };
    const throwing = {
      send: () => {
        throw new Error('broken');
      },
    };
    expect(() => sendNotice({ mailer: rejecting, log }, 'password_changed', 'who@example.com')).not.toThrow();
    expect(() => sendNotice({ mailer: throwing, log }, 'mfa_factor_added', 'who@example.com')).not.toThrow();
    await settle();
    expect(lines).toHaveLength(2);
    expect(JSON.stringify(lines)).not.toContain('who@example.com');
  });
});
