import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { PADDLE_SCHEME, signPayload, verifySignature } from './hmac-signature.js';

const SECRET = 'whsec_0123456789abcdef';
const BODY = '{"id":"evt_1","type":"usage.threshold"}';
const NOW = 1_790_000_000;

describe('signPayload', () => {
  it('is t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">', () => {
    const expected = createHmac('sha256', SECRET).update(`${NOW}.${BODY}`).digest('hex');
    expect(signPayload(SECRET, BODY, NOW)).toBe(`t=${NOW},v1=${expected}`);
  });

  it('drops fractions of a second from the timestamp', () => {
    expect(signPayload(SECRET, BODY, NOW + 0.9)).toBe(signPayload(SECRET, BODY, NOW));
  });

  it('signs bytes the same as the string they encode', () => {
    expect(signPayload(SECRET, Buffer.from(BODY), NOW)).toBe(signPayload(SECRET, BODY, NOW));
  });
});

describe('verifySignature', () => {
  const header = signPayload(SECRET, BODY, NOW);

  it('accepts a valid signature, from a string or the raw bytes', () => {
    expect(verifySignature(SECRET, header, BODY, NOW)).toBe(true);
    expect(verifySignature(SECRET, header, Buffer.from(BODY), NOW)).toBe(true);
  });

  it('refuses the wrong secret', () => {
    expect(verifySignature('whsec_another_secret_!', header, BODY, NOW)).toBe(false);
  });

  it('refuses a tampered body', () => {
    expect(verifySignature(SECRET, header, BODY.replace('evt_1', 'evt_2'), NOW)).toBe(false);
    expect(verifySignature(SECRET, header, `${BODY} `, NOW)).toBe(false);
  });

  it('refuses a tampered timestamp (it is signed too)', () => {
    expect(verifySignature(SECRET, header.replace(`t=${NOW}`, `t=${NOW + 1}`), BODY, NOW)).toBe(false);
  });

  it('accepts timestamps within the tolerance either way, and refuses stale or future ones beyond it', () => {
    expect(verifySignature(SECRET, header, BODY, NOW + 300)).toBe(true);
    expect(verifySignature(SECRET, header, BODY, NOW - 300)).toBe(true);
    expect(verifySignature(SECRET, header, BODY, NOW + 301)).toBe(false);
    expect(verifySignature(SECRET, header, BODY, NOW - 301)).toBe(false);
    expect(verifySignature(SECRET, header, BODY, NOW + 30, 10)).toBe(false);
  });

  it('accepts any one matching v1 among several (secret rotation) and ignores unknown schemes', () => {
    const good = header.split('v1=')[1]!;
    const other = signPayload('whsec_old_secret_xxxxx', BODY, NOW).split('v1=')[1]!;
    expect(verifySignature(SECRET, `t=${NOW},v1=${other},v1=${good}`, BODY, NOW)).toBe(true);
    expect(verifySignature(SECRET, `t=${NOW}, v0=abc, v1=${good}`, BODY, NOW)).toBe(true);
    expect(verifySignature(SECRET, `t=${NOW},v1=${other}`, BODY, NOW)).toBe(false);
  });

  it.each([
    ['empty', ''],
    ['no timestamp', `v1=${'a'.repeat(64)}`],
    ['no v1', `t=${NOW}`],
    ['only an unknown scheme', `t=${NOW},v0=${'a'.repeat(64)}`],
    ['two timestamps', `t=${NOW},t=${NOW},v1=${'a'.repeat(64)}`],
    ['a non-numeric timestamp', `t=abc,v1=${'a'.repeat(64)}`],
    ['a negative timestamp', `t=-${NOW},v1=${'a'.repeat(64)}`],
    ['a part without "="', `t=${NOW},v1`],
    ['garbage', 'not a signature at all'],
    ['a short digest', `t=${NOW},v1=abcd`],
    ['a non-hex digest', `t=${NOW},v1=${'z'.repeat(64)}`],
  ])('refuses a malformed header: %s', (_, bad) => {
    expect(verifySignature(SECRET, bad, BODY, NOW)).toBe(false);
  });

  it('refuses a missing header', () => {
    expect(verifySignature(SECRET, undefined, BODY, NOW)).toBe(false);
    expect(verifySignature(SECRET, null, BODY, NOW)).toBe(false);
  });

  it('refuses a digest of the right length made from the wrong input', () => {
    const forged = createHmac('sha256', SECRET).update(BODY).digest('hex'); // no "<t>." prefix
    expect(verifySignature(SECRET, `t=${NOW},v1=${forged}`, BODY, NOW)).toBe(false);
  });
});

describe('several secrets (the operator rotates)', () => {
  it('accepts a signature made with any configured secret, and none made with another', () => {
    const header = signPayload(SECRET, BODY, NOW);
    expect(verifySignature(['whsec_new_secret_0123456', SECRET], header, BODY, NOW)).toBe(true);
    expect(verifySignature([SECRET, 'whsec_new_secret_0123456'], header, BODY, NOW)).toBe(true);
    expect(verifySignature(['whsec_new_secret_0123456', 'whsec_other_secret_01234'], header, BODY, NOW)).toBe(false);
    expect(verifySignature([], header, BODY, NOW)).toBe(false);
  });
});

describe('the Paddle scheme: ts=<unix>;h1=<hex> over "<ts>:<body>"', () => {
  it('signs and verifies with its own separators and signed text', () => {
    const expected = createHmac('sha256', SECRET).update(`${NOW}:${BODY}`).digest('hex');
    const header = signPayload(SECRET, BODY, NOW, PADDLE_SCHEME);
    expect(header).toBe(`ts=${NOW};h1=${expected}`);
    expect(verifySignature(SECRET, header, BODY, NOW, 300, PADDLE_SCHEME)).toBe(true);
  });

  it("accepts any one h1 among several, and refuses the other schemes' spelling", () => {
    const good = signPayload(SECRET, BODY, NOW, PADDLE_SCHEME).split('h1=')[1]!;
    const other = signPayload('pdl_ntfset_old_secret_0', BODY, NOW, PADDLE_SCHEME).split('h1=')[1]!;
    expect(verifySignature(SECRET, `ts=${NOW};h1=${other};h1=${good}`, BODY, NOW, 300, PADDLE_SCHEME)).toBe(true);
    expect(verifySignature(SECRET, signPayload(SECRET, BODY, NOW), BODY, NOW, 300, PADDLE_SCHEME)).toBe(false);
    expect(verifySignature(SECRET, `ts=${NOW};h1=${createHmac('sha256', SECRET).update(`${NOW}.${BODY}`).digest('hex')}`, BODY, NOW, 300, PADDLE_SCHEME)).toBe(false);
  });
});
