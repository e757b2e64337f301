import { describe, expect, it } from 'vitest';
import { changeOf, MIN, subscriptionOf, T } from '../../test/support/billing-state.js';
import { decide, type DecisionInput } from './billing-decision.js';

const change = changeOf;
const stored = subscriptionOf;

const input = (over: Partial<DecisionInput> = {}): DecisionInput => ({
  provider: 'stripe',
  eventId: 'evt_1',
  change: change(),
  known: null,
  subject: { id: 'org_1', plan: 'free', anchor: null },
  before: [],
  defaultPlan: 'free',
  now: T,
  ...over,
});

describe('decide', () => {
  it('a first event: the subscription plan, and its period as the new anchor', () => {
    expect(decide(input())).toMatchObject({ anchor: T - 10 * MIN, plan: { plan: 'pro', ended: false }, notes: [] });
  });

  it("re-asserts nothing: the same plan and period said again leave an operator's own plan and anchor alone", () => {
    const known = stored();
    const decision = decide(input({ known, before: [known], subject: { id: 'org_1', plan: 'starter', anchor: T - 300 * MIN } }));
    expect(decision.anchor).toBeUndefined();
    expect(decision.plan).toBeUndefined();
    expect(decision.notes).toEqual([expect.stringMatching(/^period: the period from .* is already applied/)]);
  });

  it('a pending subscription records its period, and applies it when it becomes live', () => {
    const pending = stored({ status: 'pending', plan: null, stateAt: T - MIN });
    expect(decide(input({ change: change({ status: 'pending', at: T - MIN }) })).anchor).toBeUndefined();
    expect(decide(input({ known: pending, before: [pending] }))).toMatchObject({ anchor: T - 10 * MIN, plan: { plan: 'pro' } });
  });

  it('the end of the last live subscription is the default plan; of an older one, nothing', () => {
    const known = stored();
    expect(decide(input({ known, before: [known], subject: { id: 'org_1', plan: 'pro', anchor: null }, change: change({ status: 'ended', kind: 'cancel' }) })).plan).toEqual({
      plan: 'free',
      ended: true,
    });
    const newer = stored({ subscription: 'sub_2', plan: 'starter', startedAt: T - 50 * MIN });
    const decision = decide(input({ known, before: [known, newer], subject: { id: 'org_1', plan: 'starter', anchor: null }, change: change({ status: 'ended', kind: 'cancel' }) }));
    expect(decision.plan).toBeUndefined();
  });
});
