import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KeyStore } from '../../src/auth/key-store.js';
import { loadEnv } from '../../src/config/env.js';
import { parsePolicy } from '../../src/config/load-policy.js';
import { startGateway, type Gateway } from '../../src/gateway/gateway.js';
import { Settlements } from '../../src/proxy/settlements.js';
import { EngineInputError } from '../../src/quota/errors.js';
import { SubjectStore } from '../../src/subjects/subject-store.js';
import { gatewayTestPolicy } from '../support/gateway.js';
import { freePort } from '../support/redis-server.js';
import { cleanupPrefix, createTestPool, createTestRedis, databaseUrl, redisUrl, uniquePrefix } from '../support/services.js';

/** Every log line of a request carries the id the response's x-request-id shows, also after the response has left. */

type Line = Record<string, unknown> & { msg: string };

function capturingLogger() {
  const lines: Line[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const text of chunk.toString().split('\n')) if (text) lines.push(JSON.parse(text) as Line);
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), lines };
}

describe('request ids in logs', () => {
  const prefix = uniquePrefix('reqlog');
  const redis = createTestRedis();
  const pool = createTestPool();
  const { logger, lines } = capturingLogger();
  let gateway: Gateway;
  let key: string;

  beforeAll(async () => {
    // Nothing listens there: every proxied request fails upstream, and its hold is refunded.
    const deadUpstream = `http://127.0.0.1:${await freePort()}`;
    const env = loadEnv({ REDIS_URL: redisUrl(), DATABASE_URL: databaseUrl(), QG_KEY_PREFIX: prefix, HOST: '127.0.0.1', PORT: '0', QG_REDIS_COMMAND_TIMEOUT_MS: '5000' });
    gateway = await startGateway({ env, policy: parsePolicy(gatewayTestPolicy(deadUpstream)), logger });
    const subject = `reqlog-${process.pid}-${Date.now().toString(36)}`;
    await new SubjectStore(pool).create({ id: subject, plan: 'test' });
    key = (await new KeyStore(pool).create(subject)).secret;
  });

  afterAll(async () => {
    await gateway?.close();
    await cleanupPrefix(redis, prefix);
    redis.disconnect();
    await pool.end();
  });

  it('tags the lines of a failing proxied request with the id in its x-request-id header', async () => {
    const res = await fetch(`${gateway.url}/v1/exports`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'x-request-id': 'client-7' } });
    expect(res.status).toBe(502);
    const id = res.headers.get('x-request-id');
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7/);
    await gateway.deps.settlements.idle();
    const mine = lines.filter((l) => l.req === id);
    expect(mine.map((l) => l.msg)).toContain('upstream request failed');
    expect(mine.every((l) => l.client_req === 'client-7')).toBe(true);
  });

  it('logs a settlement that fails after the response with the request logger', async () => {
    const settlements = new Settlements();
    settlements.run(logger.child({ req: 'r-1' }), 'settle', () => Promise.reject(new EngineInputError('no such hold')));
    await settlements.idle();
    expect(lines.find((l) => l.msg.startsWith('could not end a request'))).toMatchObject({ req: 'r-1', label: 'settle' });
  });
});
