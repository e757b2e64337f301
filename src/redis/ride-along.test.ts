import type { Socket } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { RideAlong } from './ride-along.js';

/** The part of a socket RideAlong uses, recording what happens to it. */
function fakeSocket() {
  const events: string[] = [];
  const socket = {
    writableCorked: 0,
    cork() {
      socket.writableCorked++;
      events.push('cork');
    },
    uncork() {
      socket.writableCorked--;
      events.push('uncork');
    },
  };
  return { socket: socket as unknown as Socket, events };
}

describe('RideAlong', () => {
  afterEach(() => void vi.useRealTimers());

  it('starts each at once when it may not wait', () => {
    const { socket, events } = fakeSocket();
    const ride = new RideAlong(() => socket, 0);
    ride.defer(() => events.push('a'));
    expect(events).toEqual(['a']);
  });

  it('holds them back until the next call releases them, in order, on a socket corked until the turn ends', () => {
    vi.useFakeTimers();
    const { socket, events } = fakeSocket();
    const ride = new RideAlong(() => socket, 1_000);
    ride.defer(() => events.push('a'));
    ride.defer(() => events.push('b'));
    expect(events).toEqual([]);
    expect(ride.size).toBe(2);
    ride.release();
    // The releasing call writes next, still corked: one write for all.
    events.push('the call that released them');
    expect(events).toEqual(['cork', 'a', 'b', 'the call that released them']);
    vi.runOnlyPendingTimers();
    expect(events.at(-1)).toBe('uncork');
    expect(ride.size).toBe(0);
    // Nothing waits: a release does nothing, not even cork.
    ride.release();
    expect(events.filter((e) => e === 'cork')).toHaveLength(1);
  });

  it('starts them after the longest wait when no call comes, and waits again for the next', () => {
    vi.useFakeTimers();
    const { socket, events } = fakeSocket();
    const ride = new RideAlong(() => socket, 50);
    ride.defer(() => events.push('a'));
    vi.advanceTimersByTime(49);
    expect(events).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(events).toContain('a');
    ride.defer(() => events.push('b'));
    vi.advanceTimersByTime(50);
    expect(events).toContain('b');
  });

  it('starts them without corking where there is no socket to cork (a Cluster, a connection being made)', () => {
    const started: string[] = [];
    const ride = new RideAlong(() => undefined, 1_000);
    ride.defer(() => started.push('a'));
    ride.release();
    expect(started).toEqual(['a']);
  });
});
