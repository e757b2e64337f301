import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/lib/clock.js';
import { startGatewayFixture, type GatewayFixture, type TestSubject } from '../support/gateway.js';
import { databaseUrl, uniquePrefix } from '../support/services.js';
import { startTcpProxy, targetOf, type BlockMode, type TcpProxy } from '../support/tcp-proxy.js';
import { HOUR, T0 } from '../support/test-time.js';

/**
 * SPEC invariant 14: decisions outlive Postgres. Gateway A reaches Postgres through a proxy
 * the test cuts; gateway B (same deployment: same Redis prefix) keeps the real database,
 * as an operator's admin API elsewhere would. A's clock is injected, so the outage can
 * last hours without waiting for them: its key cache (5 s) runs out at once.
 */

const SUBJECTS = 12;
const MINUTE = 60_000;

describe.each<BlockMode>(['refuse', 'hold'])('Postgres unreachable for the gateway (connections %s)', (mode) => {
  let proxy: TcpProxy;
  let a: GatewayFixture;
  let b: GatewayFixture;
  const clock = new ManualClock(T0);
  /** Two keys per subject: [subject, its second key]. */
  const known: { subject: TestSubject; second: string }[] = [];

  beforeAll(async () => {
    proxy = await startTcpProxy(targetOf(databaseUrl()));
    const prefix = uniquePrefix('pgout');
    a = await startGatewayFixture({ env: { QG_KEY_PREFIX: prefix, DATABASE_URL: proxy.rewrite(databaseUrl()) }, clock });
    b = await startGatewayFixture({ env: { QG_KEY_PREFIX: prefix } });
    for (let i = 0; i < SUBJECTS; i++) {
      // The second subject's plan changes during the outage (from one with limits: a subject's
      // grants are loaded from Postgres the first time a limit applies).
      const subject = await b.createSubject({ plan: i === 1 ? 'test' : 'unlimited' });
      const res = await b.admin(`/admin/v1/subjects/${subject.id}/keys`, { method: 'POST', json: {} });
      known.push({ subject, second: ((await res.json()) as { key: string }).key });
    }
  });
  afterAll(async () => {
    proxy?.unblock();
    await a?.close();
    await b?.close();
    await proxy?.close();
  });

  const consume = (key: string) =>
    a.request('/v1/consume', { method: 'POST', key, json: { charges: [{ metric: 'gens', amount: 1 }] } }).then(async (r) => (await r.arrayBuffer(), r.status));
  /**
   * Resolves once gateway A has dropped its cached keys of `subjectId`. The admin API answers
   * before the other gateways have read its invalidation (Redis pub/sub); until then A may
   * still decide from the key it had cached a moment ago.
   */
  function droppedOnA(subjectId: string): Promise<void> {
    const authenticator = a.gateway.deps.authenticator;
    const invalidate = authenticator.invalidate.bind(authenticator);
    return new Promise((resolve) => {
      authenticator.invalidate = (id) => {
        invalidate(id);
        if (id === subjectId || id === undefined) {
          authenticator.invalidate = invalidate;
          resolve();
        }
      };
    });
  }
  const allKeys = () => known.flatMap((k) => [k.subject.key, k.second]);
  /** Every key `times` times, all at once; the statuses, counted. */
  async function traffic(keys: readonly string[], times: number): Promise<Record<number, number>> {
    const statuses = await Promise.all(keys.flatMap((key) => Array.from({ length: times }, () => consume(key))));
    return statuses.reduce<Record<number, number>>((n, s) => ({ ...n, [s]: (n[s] ?? 0) + 1 }), {});
  }

  it('keeps deciding for keys used before the outage, for hours; revocations and plan changes still apply', async () => {
    // Used (verified in Postgres, so mirrored) in the hour before the outage.
    expect(await traffic(allKeys(), 2)).toEqual({ 200: 4 * SUBJECTS });
    clock.advance(59 * MINUTE);
    const fresh = await b.createSubject({ plan: 'unlimited' }); // never used before the outage

    proxy.block(mode);
    // 10 minutes into the outage, then 59: every in-process cache entry has long expired.
    for (const minutes of [10, 49]) {
      clock.advance(minutes * MINUTE);
      expect(await traffic(allKeys(), 5), `${minutes} min`).toEqual({ 200: 10 * SUBJECTS });
    }
    // The only failures: a key the gateway never verified answers 503, as before.
    expect(await consume(fresh.key)).toBe(503);

    // Revoked on B (Postgres reachable there): A refuses that key, the subject's other key still works.
    const [first, second] = known as [(typeof known)[number], (typeof known)[number]];
    const keys = (await (await b.admin(`/admin/v1/subjects/${first.subject.id}/keys`)).json()) as { items: { id: string; prefix: string }[] };
    const revoked = keys.items.find((k) => first.subject.key.startsWith(k.prefix))!;
    const revocationSeen = droppedOnA(first.subject.id);
    expect((await b.admin(`/admin/v1/subjects/${first.subject.id}/keys/${revoked.id}`, { method: 'DELETE' })).status).toBe(204);
    await revocationSeen;
    expect(await consume(first.subject.key)).toBe(401);
    expect(await consume(first.second)).toBe(200);

    // A plan change on B applies on A: the `limited` plan allows 5 requests at once (burst 5;
    // A's clock stands still, so the bucket does not refill meanwhile).
    const planChangeSeen = droppedOnA(second.subject.id);
    expect((await b.admin(`/admin/v1/subjects/${second.subject.id}`, { method: 'PATCH', json: { plan: 'limited' } })).status).toBe(200);
    await planChangeSeen;
    expect(await traffic([second.second], 8)).toEqual({ 200: 5, 429: 3 });

    // The bound: QG_AUTH_STALE_SECONDS (2 h by default) after the last verification.
    clock.advance(2 * HOUR - 59 * MINUTE - 59 * MINUTE + MINUTE);
    expect(await traffic([second.second], 1)).toEqual({ 503: 1 });

    // Postgres is back: keys are verified there again, the revoked one stays refused.
    proxy.unblock();
    clock.advance(1_000); // after a failure, Postgres is tried again a second later
    expect(
      await traffic(
        allKeys().filter((k) => k !== first.subject.key),
        1,
      ),
    ).toEqual({ 200: 2 * SUBJECTS - 1 });
    expect(await consume(first.subject.key)).toBe(401);
  });
});
