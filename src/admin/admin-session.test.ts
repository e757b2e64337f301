import { describe, expect, it } from 'vitest';
import { hashToken } from './admin-auth.js';
import { AdminSessions, SESSION_TTL_MS } from './admin-session.js';

describe('AdminSessions', () => {
  let now = Date.parse('2026-11-10T12:00:00Z');
  const sessions = new AdminSessions(hashToken('admin-token-0123456789'), () => now);

  it('accepts its own sessions until they expire, with the name given at login as the actor', () => {
    const named = sessions.issue('ada');
    expect(sessions.verify(named.value)).toEqual({ actor: 'admin:ada', expiresAt: now + SESSION_TTL_MS });
    expect(sessions.verify(sessions.issue(null).value)?.actor).toBe('admin');
    now += SESSION_TTL_MS;
    expect(sessions.verify(named.value)).toBeNull();
  });

  it('refuses tampered, foreign and malformed values; another token signs differently', () => {
    const { value } = sessions.issue('ada');
    const [payload, signature] = value.split('.') as [string, string];
    const longer = Buffer.from(JSON.stringify({ a: 'ada', e: 9e15, n: 'x' })).toString('base64url');
    const other = new AdminSessions(hashToken('another-token-0123456789'));
    for (const bad of [`${longer}.${signature}`, `${payload}.${signature.slice(1)}`, payload, `${value}.x`, '', undefined, other.issue('ada').value]) {
      expect(sessions.verify(bad)).toBeNull();
    }
  });

  it('ties the CSRF token to the session', () => {
    const a = sessions.issue(null).value;
    const b = sessions.issue(null).value;
    expect(sessions.csrfValid(a, sessions.csrfToken(a))).toBe(true);
    expect(sessions.csrfValid(a, sessions.csrfToken(b))).toBe(false);
    expect(sessions.csrfValid(a, undefined)).toBe(false);
    expect(sessions.csrfValid(a, '')).toBe(false);
  });
});
