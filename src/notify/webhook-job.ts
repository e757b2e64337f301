import type { JobsOptions } from 'bullmq';
import { signPayload } from '../lib/hmac-signature.js';
import { newId } from '../lib/ids.js';
import type { JobKind, WorkerContext } from '../jobs/job.js';

/**
 * Outgoing notifications (SPEC "Worker": Notify). A notification is first recorded in the
 * `notifications` table, where a unique index makes it happen once (per threshold per
 * period, per abusive minute, ...), then delivered by a `webhook` job: a signed JSON POST
 * to QG_NOTIFY_URL, retried with exponential backoff until the receiver answers 2xx.
 *
 * The request:
 *
 *   POST $QG_NOTIFY_URL
 *   content-type: application/json
 *   quotagate-event-id: <id>                  (the same on every retry: dedupe on it)
 *   quotagate-signature: t=<unix>,v1=<hex>    (HMAC-SHA256 with QG_NOTIFY_SECRET over "<t>.<body>")
 *
 *   {"id": "<uuidv7>", "type": "usage.threshold" | "usage.projected_exceed" | "abuse.suspected" | "reconciliation.drift" | "ledger.dead_letter",
 *    "created_at": "<ISO>", "data": {...}}
 *
 * Delivery is at least once (a receiver that answers 2xx after the timeout, or a worker
 * that dies between the POST and recording it, gets it again). The signature's timestamp is
 * wall-clock time at each attempt (receivers check it against their own clock), never the
 * injected decision clock.
 */

export type NotificationKind = 'usage_threshold' | 'projected_exceed' | 'abuse' | 'drift' | 'dead_letter';

/** The webhook `type` of each kind of notification. */
export const WEBHOOK_TYPES: Readonly<Record<NotificationKind, string>> = {
  usage_threshold: 'usage.threshold',
  projected_exceed: 'usage.projected_exceed',
  abuse: 'abuse.suspected',
  drift: 'reconciliation.drift',
  dead_letter: 'ledger.dead_letter',
};

export const WEBHOOK_JOB = 'webhook';
/** Attempts per delivery: with the backoff below, retries span about 10½ minutes (5 s … 320 s). */
export const WEBHOOK_ATTEMPTS = 8;
export const WEBHOOK_BACKOFF_MS = 5_000;
/** Longest one POST may take, answer included. */
export const WEBHOOK_TIMEOUT_MS = 10_000;
/** How often undelivered notifications whose job was lost are enqueued again. */
const SWEEP_EVERY_MS = 60_000;

/** What recording a notification needs: a narrow slice of the worker context, so reconciliation can pass its own. */
export type NotifyContext = Pick<WorkerContext, 'pool' | 'queue' | 'env' | 'logger'>;

export interface NotificationInput {
  kind: NotificationKind;
  subjectId: string;
  metric?: string | null;
  /** A counter's period start (ms, or an ISO instant); '-infinity' (GAUGE_PERIOD) for gauges; null/absent for none. */
  periodStart?: number | string | null;
  /** What makes it unique besides the rest: '80' for a usage threshold, a minute start for abuse, a run id for drift. */
  threshold?: string | null;
  /** The webhook's `data`. */
  payload: Record<string, unknown>;
}

const periodColumn = (p: NotificationInput['periodStart']): string | null => (p === undefined || p === null ? null : typeof p === 'number' ? new Date(p).toISOString() : p);

/** The unique index's key (notifications_once_idx), to drop duplicates within one insert. */
const onceKey = (n: NotificationInput): string => [n.kind, n.subjectId, n.metric ?? '', periodColumn(n.periodStart) ?? '-infinity', n.threshold ?? ''].join('\u0000');

/**
 * Records notifications and, for those that are new (not recorded before: the unique index
 * decides), enqueues their delivery. Returns, per input, the new notification's id or null
 * when it was already recorded. A failure to enqueue is logged, not thrown: the row is
 * recorded, and the webhook job's sweep enqueues it again.
 */
export async function recordNotifications(ctx: NotifyContext, inputs: readonly NotificationInput[]): Promise<(string | null)[]> {
  if (inputs.length === 0) return [];
  const seen = new Set<string>();
  const rows = inputs.map((n) => {
    const key = onceKey(n);
    const duplicate = seen.has(key);
    seen.add(key);
    return { id: newId(), n, duplicate };
  });
  const insert = rows.filter((r) => !r.duplicate);
  const { rows: inserted } = await ctx.pool.query<{ id: string }>(
    `INSERT INTO notifications (id, kind, subject_id, metric, period_start, threshold, payload)
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::text[], $7::jsonb[])
     ON CONFLICT DO NOTHING
     RETURNING id`,
    [
      insert.map((r) => r.id),
      insert.map((r) => r.n.kind),
      insert.map((r) => r.n.subjectId),
      insert.map((r) => r.n.metric ?? null),
      insert.map((r) => periodColumn(r.n.periodStart)),
      insert.map((r) => r.n.threshold ?? null),
      insert.map((r) => JSON.stringify(r.n.payload)),
    ],
  );
  const fresh = new Set(inserted.map((r) => r.id));
  const ids = rows.map((r) => (fresh.has(r.id) ? r.id : null));
  const created = ids.filter((id): id is string => id !== null);
  if (created.length > 0) {
    ctx.logger.info({ notifications: created.length, kinds: [...new Set(rows.filter((r) => fresh.has(r.id)).map((r) => r.n.kind))] }, 'notifications recorded');
    await enqueueWebhooks(ctx, created).catch((err: Error) =>
      ctx.logger.warn({ err: err.message, notifications: created }, 'could not enqueue webhook deliveries; the sweep will retry'),
    );
  }
  return ids;
}

/**
 * Records one notification (usage threshold, abuse, drift) and enqueues its delivery when
 * it is new; returns its id, or null when the same notification was recorded before.
 *
 * For reconciliation (a drift from Reconciler's report; recordNotifications takes them all
 * at once): `recordNotification(ctx, { kind: 'drift', subjectId: d.subjectId, metric: d.metric,
 * periodStart: d.period, threshold: runId, payload: {...} })` sends one `reconciliation.drift`
 * per subject, metric and period per run.
 */
export async function recordNotification(ctx: NotifyContext, input: NotificationInput): Promise<string | null> {
  return (await recordNotifications(ctx, [input]))[0] ?? null;
}

/** BullMQ options of one delivery; the job id dedupes, so enqueueing a notification twice queues it once. */
export const webhookJobOptions = (notificationId: string): JobsOptions => ({
  jobId: `webhook-${notificationId}`,
  attempts: WEBHOOK_ATTEMPTS,
  backoff: { type: 'exponential', delay: WEBHOOK_BACKOFF_MS },
  removeOnComplete: 1_000,
  removeOnFail: 1_000,
});

/** Enqueues deliveries (nothing when no QG_NOTIFY_URL is configured: the rows stay recorded). */
export async function enqueueWebhooks(ctx: NotifyContext, notificationIds: readonly string[]): Promise<void> {
  if (!ctx.env.QG_NOTIFY_URL || notificationIds.length === 0) return;
  await ctx.queue.addBulk(notificationIds.map((id) => ({ name: WEBHOOK_JOB, data: { notificationId: id }, opts: webhookJobOptions(id) })));
}

interface NotificationRow {
  id: string;
  kind: NotificationKind;
  payload: Record<string, unknown>;
  created_at: Date;
  delivered_at: Date | null;
}

function describeFailure(err: unknown): string {
  const e = err as Error & { cause?: { code?: string; message?: string } };
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return `no answer within ${WEBHOOK_TIMEOUT_MS / 1000} s`;
  return e?.cause?.code ?? e?.cause?.message ?? e?.message ?? String(err);
}

/**
 * JobKind `webhook`: `{notificationId}` delivers one notification (thrown errors are retried
 * by BullMQ, WEBHOOK_ATTEMPTS in all); the scheduled run without data (every minute) is a
 * sweep that enqueues again undelivered notifications never attempted (an enqueue that
 * failed after the row was recorded), from the last 24 hours.
 */
export function webhookJob(ctx: WorkerContext): JobKind {
  let warnedUnconfigured = false;
  const configured = (): { url: string; secret: string } | null => {
    const url = ctx.env.QG_NOTIFY_URL;
    const secret = ctx.env.QG_NOTIFY_SECRET;
    if (url && secret) return { url, secret };
    if (!warnedUnconfigured) ctx.logger.info('QG_NOTIFY_URL is not set: notifications are recorded, not sent');
    warnedUnconfigured = true;
    return null;
  };

  async function deliver(id: string): Promise<string> {
    const target = configured();
    if (!target) return 'not configured';
    const { rows } = await ctx.pool.query<NotificationRow>(`SELECT id, kind, payload, created_at, delivered_at FROM notifications WHERE id = $1`, [id]);
    const row = rows[0];
    if (!row) {
      ctx.logger.warn({ notification: id }, 'webhook job for a notification that does not exist');
      return 'not found';
    }
    if (row.delivered_at) return 'already delivered';

    const body = JSON.stringify({ id: row.id, type: WEBHOOK_TYPES[row.kind], created_at: row.created_at.toISOString(), data: row.payload });
    let error: string | null = null;
    try {
      const res = await fetch(target.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'quotagate-webhooks',
          'quotagate-event-id': row.id,
          'quotagate-signature': signPayload(target.secret, body, Date.now() / 1000),
        },
        body,
        // A redirect is an answer that is not 2xx: retried, never followed (a POST would turn into a GET).
        redirect: 'manual',
        signal: AbortSignal.timeout(WEBHOOK_TIMEOUT_MS),
      });
      if (res.ok) await res.body?.cancel().catch(() => {});
      else {
        const text = (await res.text().catch(() => '')).slice(0, 200).trim();
        error = `HTTP ${res.status}${text ? `: ${text}` : ''}`;
      }
    } catch (err) {
      error = describeFailure(err);
    }
    await ctx.pool.query(
      `UPDATE notifications
          SET attempts = attempts + 1, last_error = $2,
              delivered_at = CASE WHEN $2::text IS NULL THEN now() ELSE delivered_at END
        WHERE id = $1`,
      [row.id, error],
    );
    if (error !== null) throw new Error(`webhook ${row.id} (${WEBHOOK_TYPES[row.kind]}) not delivered: ${error}`);
    return 'delivered';
  }

  async function sweep(): Promise<number> {
    if (!configured()) return 0;
    const { rows } = await ctx.pool.query<{ id: string }>(
      `SELECT id FROM notifications
        WHERE delivered_at IS NULL AND attempts = 0
          AND created_at > now() - interval '24 hours' AND created_at < now() - interval '2 minutes'
        ORDER BY created_at LIMIT 1000`,
    );
    await enqueueWebhooks(
      ctx,
      rows.map((r) => r.id),
    );
    return rows.length;
  }

  return {
    name: WEBHOOK_JOB,
    attempts: WEBHOOK_ATTEMPTS,
    run: (data) => (typeof data.notificationId === 'string' ? deliver(data.notificationId) : sweep()),
    schedules: [{ id: 'webhook-sweep', job: WEBHOOK_JOB, everyMs: SWEEP_EVERY_MS }],
  };
}
