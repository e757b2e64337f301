import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGatewayFixture, type GatewayFixture, type TestSubject } from '../support/gateway.js';

/**
 * What an app's middleware needs from the decision API to give a charge back when its
 * handler fails: a reservation with an Idempotency-Key (a repeat is 409 while it is open, a
 * replay with the stored response once settled, decided afresh once refunded or settled without
 * a response) and
 * POST /v1/reservations/{id}/refund, whose events are `refund`s.
 */

let gw: GatewayFixture;
beforeAll(async () => {
  gw = await startGatewayFixture();
});
afterAll(() => gw?.close());

interface Reservation {
  id: string;
  expires_at: string | null;
  replayed: boolean;
  response: string | null;
  metrics: { metric: string; used: number }[];
}

const reserve = (subject: TestSubject, amount: number, key?: string, ttl?: number) =>
  gw.request('/v1/reservations', {
    method: 'POST',
    key: subject.key,
    json: { charges: [{ metric: 'gens', amount }], ...(ttl ? { ttl_seconds: ttl } : {}) },
    headers: key ? { 'idempotency-key': key } : {},
  });

describe('reservations with an Idempotency-Key', () => {
  it('answer a repeat with 409 while open, a replay with the stored response once settled', async () => {
    const subject = await gw.createSubject();
    const first = await reserve(subject, 2, 'job-1');
    expect(first.status).toBe(201);
    const created = (await first.json()) as Reservation;
    expect(created).toMatchObject({ replayed: false, response: null });

    const whileOpen = await reserve(subject, 2, 'job-1');
    expect(whileOpen.status).toBe(409);
    expect(await whileOpen.json()).toMatchObject({ code: 'idempotency_in_flight' });
    const other = await reserve(subject, 3, 'job-1');
    expect([409, 422]).toContain(other.status);

    const settle = await gw.request(`/v1/reservations/${created.id}/settle`, { method: 'POST', key: subject.key, json: { response: '{"done":true}' } });
    expect(settle.status).toBe(200);
    expect(await gw.used(subject, 'gens')).toBe(2);

    const replay = await reserve(subject, 2, 'job-1');
    expect(replay.status).toBe(200);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect(await replay.json()).toMatchObject({ id: created.id, replayed: true, expires_at: null, response: '{"done":true}' });
    expect(await gw.used(subject, 'gens')).toBe(2);
    // The same key for another request is a mismatch.
    expect((await reserve(subject, 3, 'job-1')).status).toBe(422);
  });

  it('settled without a response: 5 concurrent replays are new reservations, charged and limited (never a free pass)', async () => {
    const subject = await gw.createSubject();
    const first = await reserve(subject, 20, 'job-unstored');
    expect(first.status).toBe(201);
    const created = (await first.json()) as Reservation;
    expect((await gw.request(`/v1/reservations/${created.id}/settle`, { method: 'POST', key: subject.key, json: {} })).status).toBe(200);
    expect(await gw.used(subject, 'gens')).toBe(20);

    // Plan `test` allows 50 gens: of 5 replays reserving 20 each, exactly one more fits.
    const replays = await Promise.all(Array.from({ length: 5 }, () => reserve(subject, 20, 'job-unstored')));
    const answers = await Promise.all(replays.map(async (r) => ({ status: r.status, replayed: r.headers.get('idempotent-replayed'), body: (await r.json()) as Reservation })));
    expect(answers.map((a) => a.status).sort()).toEqual([201, 402, 402, 402, 402]);
    const fresh = answers.find((a) => a.status === 201)!;
    expect(fresh.replayed).toBeNull();
    expect(fresh.body).toMatchObject({ replayed: false, response: null });
    expect(fresh.body.id).not.toBe(created.id);
    expect(await gw.used(subject, 'gens')).toBe(40);
  });

  it('settled without `actual` keep what was reserved', async () => {
    const subject = await gw.createSubject();
    const { id } = (await (await reserve(subject, 4)).json()) as Reservation;
    const settled = await gw.request(`/v1/reservations/${id}/settle`, { method: 'POST', key: subject.key, json: {} });
    expect(settled.status).toBe(200);
    expect(await gw.used(subject, 'gens')).toBe(4);
  });

  it('refuse a response larger than QG_IDEMPOTENCY_MAX_RESPONSE_BYTES', async () => {
    const subject = await gw.createSubject();
    const { id } = (await (await reserve(subject, 1)).json()) as Reservation;
    const big = 'x'.repeat(gw.gateway.deps.settings.idempotencyMaxResponseBytes + 1);
    const res = await gw.request(`/v1/reservations/${id}/settle`, { method: 'POST', key: subject.key, json: { response: big } });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ code: 'invalid_request', field: 'response' });
  });
});

describe('POST /v1/reservations/{id}/refund', () => {
  it('gives everything back with refund events, once, and frees the idempotency key', async () => {
    const subject = await gw.createSubject();
    const { id } = (await (await reserve(subject, 5, 'job-2')).json()) as Reservation;
    expect(await gw.used(subject, 'gens')).toBe(5);

    const refund = await gw.request(`/v1/reservations/${id}/refund`, { method: 'POST', key: subject.key });
    expect(refund.status).toBe(200);
    expect(await refund.json()).toMatchObject({ id, metrics: [{ metric: 'gens', used: 0 }] });
    expect(await gw.used(subject, 'gens')).toBe(0);
    const events = await gw.events(subject);
    expect(events.map((e) => [e.kind, e.delta])).toEqual([
      ['consume', 5],
      ['refund', -5],
    ]);
    expect(events[1]!.extra).toMatchObject({ hold: id });

    // Once only: the reservation has ended.
    expect((await gw.request(`/v1/reservations/${id}/refund`, { method: 'POST', key: subject.key })).status).toBe(404);
    // The work failed, so a retry with the same key is a new request, charged again.
    const retry = await reserve(subject, 5, 'job-2');
    expect(retry.status).toBe(201);
    expect(((await retry.json()) as Reservation).id).not.toBe(id);
    expect(await gw.used(subject, 'gens')).toBe(5);
  });

  it('cannot reach another subject’s reservation', async () => {
    const [owner, stranger] = await Promise.all([gw.createSubject(), gw.createSubject()]);
    const { id } = (await (await reserve(owner, 1)).json()) as Reservation;
    expect((await gw.request(`/v1/reservations/${id}/refund`, { method: 'POST', key: stranger.key })).status).toBe(404);
    expect(await gw.used(owner, 'gens')).toBe(1);
  });
});
