import type { Cluster, Command, Redis } from 'ioredis';

/**
 * A command timeout that never beats a reply already received. ioredis's own
 * `commandTimeout` is a plain timer: after the process was paused (GC, CPU starvation,
 * SIGSTOP), Node runs expired timers before it reads the sockets, so a reply that arrived
 * during the pause was discarded and its command failed — for a decision, a 503 for a
 * charge that was applied. Here the expired timer only schedules the rejection with
 * setImmediate, which runs after the event loop's poll phase: whatever the socket holds
 * is parsed (and resolves its command) first.
 *
 * Wraps `sendCommand` of the client (a Cluster's too: its node connections then carry no
 * timeout of their own), once per command even when a Cluster redirects it.
 */
export function applyCommandDeadline(redis: Redis | Cluster, timeoutMs: number): void {
  const send = redis.sendCommand.bind(redis) as (command: Command, stream?: unknown, node?: unknown) => unknown;
  // A mark on the command rather than a WeakSet: two commands per request on the hot path,
  // and every WeakSet entry is one more ephemeron for the garbage collector.
  const timedSend = (command: TimedCommand, stream?: unknown, node?: unknown): unknown => {
    if (command[TIMED] !== true) {
      command[TIMED] = true;
      const timer = setTimeout(
        () =>
          setImmediate(() => {
            if (!command.isSettled) command.reject(new Error('Command timed out'));
          }),
        timeoutMs,
      );
      // Bound rather than a closure: one allocation per command, on the hot path.
      const clear = clearTimeout.bind(null, timer);
      command.promise.then(clear, clear);
    }
    return send(command, stream, node);
  };
  Object.assign(redis, { sendCommand: timedSend });
}

const TIMED = Symbol('quotagate.deadline');
type TimedCommand = Command & { [TIMED]?: true };
