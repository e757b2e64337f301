import { describe, expect, it } from 'vitest';
import { mintUsageToken, verifyUsageToken } from './usage-token.js';

const SECRET = 'usage-token-secret-0123456789';
const NOW = 1_790_000_000;
const claims = { subject: 'org_42', issuedAt: NOW, expiresAt: NOW + 900 };

describe('usage tokens', () => {
  it('verify with the secret that signed them until they expire', () => {
    const token = mintUsageToken(SECRET, claims);
    expect(verifyUsageToken(SECRET, token, NOW)).toEqual(claims);
    expect(verifyUsageToken(SECRET, token, NOW + 899.9)).toEqual(claims);
    expect(verifyUsageToken(SECRET, token, NOW + 900)).toBeNull();
  });

  it('are refused when signed with another secret, altered, or of another scope', () => {
    const token = mintUsageToken(SECRET, claims);
    expect(verifyUsageToken('another-secret-0123456789', token, NOW)).toBeNull();
    const [payload, signature] = token.slice(4).split('.') as [string, string];
    const alter = (change: Record<string, unknown>) =>
      `qgu_${Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(payload, 'base64url').toString()), ...change })).toString('base64url')}.${signature}`;
    expect(verifyUsageToken(SECRET, alter({ sub: 'org_43' }), NOW)).toBeNull();
    expect(verifyUsageToken(SECRET, alter({ exp: NOW + 99_999 }), NOW)).toBeNull();
    for (const bad of ['', 'qgu_', 'qgu_.', `${token}x`, token.replace('qgu_', 'qg_'), `qgu_${payload}`, 'qgu_' + 'a'.repeat(2000)]) {
      expect(verifyUsageToken(SECRET, bad, NOW), bad.slice(0, 20)).toBeNull();
    }
  });
});
