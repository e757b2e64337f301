import type { DeadLetter } from '../ledger/dead-letters.js';
import type { DeadLetterObserver } from '../ledger/isolating-writer.js';
import { recordNotification, type NotifyContext } from './webhook-job.js';

/**
 * A `ledger.dead_letter` notification per event the ledger refused, once per event id (the
 * notifications unique index, with the event id as its "threshold"). Recording never holds
 * up the flush; a failure is logged (the dead letter itself is committed either way).
 */
export function deadLetterNotifier(ctx: NotifyContext): DeadLetterObserver {
  return {
    deadLettered(letter: DeadLetter): void {
      recordNotification(ctx, {
        kind: 'dead_letter',
        subjectId: letter.subjectId,
        metric: letter.metric,
        threshold: letter.eventId,
        payload: {
          event_id: letter.eventId,
          subject_id: letter.subjectId,
          metric: letter.metric,
          kind: letter.kind,
          state: letter.state,
          error: letter.error,
          sqlstate: letter.sqlstate,
        },
      }).catch((err: Error) => ctx.logger.warn({ err: err.message, event: letter.eventId }, 'could not record the dead-letter notification'));
    },
  };
}
