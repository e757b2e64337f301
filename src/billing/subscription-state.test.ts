import { describe, expect, it } from 'vitest';
import { addMonths } from '../lib/period.js';
import { changeOf, MIN, subscriptionOf, T } from '../../test/support/billing-state.js';
import { advance, followed, planTarget, renewalAnchor, type SubscriptionState } from './subscription-state.js';

const ids = { provider: 'stripe' as const, subject: 'org_1', eventId: 'evt_1' };
const change = changeOf;
/** A stored subscription on starter, so an event's pro shows whether it was taken. */
const state = (over: Partial<SubscriptionState> = {}) => subscriptionOf({ plan: 'starter', prices: ['price_starter'], ...over });

describe('advance', () => {
  it('takes everything from the first event of a subscription', () => {
    const step = advance(null, change(), ids);
    expect(step).toMatchObject({ state: true, period: true, notes: [] });
    expect(step.after).toMatchObject({ status: 'live', plan: 'pro', periodStart: T - 10 * MIN, stateAt: T, lastEventId: 'evt_1' });
  });

  it('takes a newer (or equally new) state, and a period only when it is newer', () => {
    const step = advance(state(), change({ at: T }), ids);
    expect(step).toMatchObject({ state: true, period: false, notes: [] });
    expect(step.after.plan).toBe('pro');
    expect(advance(state({ stateAt: T }), change({ at: T }), ids).state).toBe(true);
  });

  it('keeps the state of an older event, while a newer period of it still counts', () => {
    const step = advance(state({ stateAt: T + MIN }), change({ period: { start: T, end: null } }), ids);
    expect(step).toMatchObject({ state: false, period: true });
    expect(step.after).toMatchObject({ plan: 'starter', stateAt: T + MIN, periodStart: T });
    expect(step.notes).toEqual([expect.stringMatching(/^state: the subscription's state as of .* is newer/)]);
  });

  it('never moves the period back', () => {
    const step = advance(state({ periodStart: T }), change({ period: { start: T - 20 * MIN, end: null } }), ids);
    expect(step.period).toBe(false);
    expect(step.after.periodStart).toBe(T);
    expect(step.notes).toEqual([expect.stringMatching(/^period: .* is older than the subscription's current period/)]);
  });

  it('keeps the plan when the event does not say one', () => {
    expect(advance(state(), change({ plan: undefined, prices: undefined }), ids).after).toMatchObject({ plan: 'starter', prices: ['price_starter'] });
  });
});

describe('followed and planTarget', () => {
  const a = state({ subscription: 'sub_a', plan: 'starter', startedAt: T - 100 * MIN });
  const b = state({ subscription: 'sub_b', plan: 'pro', startedAt: T - 50 * MIN });

  it('follow the latest-started live subscription', () => {
    expect(followed([a, b])?.subscription).toBe('sub_b');
    expect(planTarget([a, b], 'free')).toEqual({ plan: 'pro', ended: false });
    expect(planTarget([a, { ...b, status: 'ended' }], 'free')).toEqual({ plan: 'starter', ended: false });
  });

  it('fall back to the default plan once every subscription ended, and say nothing while only pending ones exist', () => {
    expect(planTarget([{ ...a, status: 'ended' }], 'free')).toEqual({ plan: 'free', ended: true });
    expect(planTarget([{ ...a, status: 'pending' }], 'free')).toBeUndefined();
    expect(planTarget([], 'free')).toBeUndefined();
  });
});

describe('renewalAnchor', () => {
  it('moves the anchor to a period start the subject has not reached', () => {
    expect(renewalAnchor(T - MIN, null, T)).toEqual({ anchor: T - MIN });
  });

  it('needs no move for a period that starts no later than the current one', () => {
    expect(renewalAnchor(Date.UTC(2030, 0, 1), null, T)).toEqual({ note: expect.stringMatching(/already starts at or after/) });
  });

  it("needs no move where the subject's own monthly periods already start: a 31st anchor keeps its day after February", () => {
    const jan31 = Date.UTC(2031, 0, 31, 9);
    const feb28 = addMonths(jan31, 1);
    expect(new Date(feb28).toISOString()).toBe('2031-02-28T09:00:00.000Z');
    // The provider renews on Feb 28 (clamped) and reports it a day late: the subject is already there.
    expect(renewalAnchor(feb28, jan31, feb28 + 86_400_000)).toEqual({ note: expect.stringMatching(/already starts/) });
    // Reported a few seconds early (clocks apart): quotagate's own periods reach it anyway.
    expect(renewalAnchor(feb28, jan31, feb28 - 5_000)).toEqual({ note: expect.stringMatching(/periods already start at 2031-02-28T09:00:00/) });
  });
});
