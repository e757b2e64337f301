import { describe, expect, it } from 'vitest';
import { clientResponseHeaders, upstreamRequestHeaders } from './headers.js';

describe('upstreamRequestHeaders', () => {
  it('strips credentials, hop-by-hop and spoofed gateway headers, and adds subject and request id', () => {
    const incoming = new Headers({
      authorization: 'Bearer qg_secret',
      'x-api-key': 'qg_secret',
      connection: 'keep-alive, x-private',
      'x-private': 'hop',
      'keep-alive': 'timeout=5',
      'transfer-encoding': 'chunked',
      host: 'gateway.example',
      'content-length': '12',
      'x-quotagate-subject': 'someone-else',
      'x-request-id': 'client-chosen',
      'content-type': 'application/json',
      'idempotency-key': 'abc',
      'x-forwarded-for': '10.0.0.1',
    });
    const out = upstreamRequestHeaders(incoming, { subjectId: 'user:1', requestId: 'r-1', clientIp: '127.0.0.1', identity: true });
    expect(out).toEqual({
      'content-type': 'application/json',
      'idempotency-key': 'abc',
      'x-quotagate-subject': 'user:1',
      'x-request-id': 'r-1',
      'x-forwarded-for': '10.0.0.1, 127.0.0.1',
      'accept-encoding': 'identity',
    });
  });
});

describe('clientResponseHeaders', () => {
  it('drops hop-by-hop headers and keeps repeated ones', () => {
    const out = clientResponseHeaders({ 'set-cookie': ['a=1', 'b=2'], connection: 'close', 'content-type': 'text/plain', 'transfer-encoding': 'chunked' });
    expect(out.get('content-type')).toBe('text/plain');
    expect(out.getSetCookie()).toEqual(['a=1', 'b=2']);
    expect(out.has('connection')).toBe(false);
    expect(out.has('transfer-encoding')).toBe(false);
  });
});
