import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadEnv, type Env } from '../../src/config/env.js';
import { verifySignature } from '../../src/lib/hmac-signature.js';
import { abuseJob } from '../../src/notify/abuse-job.js';
import { projectedExceedJob } from '../../src/notify/projected-exceed-job.js';
import { ThresholdNotifier } from '../../src/notify/thresholds.js';
import { recordNotification, webhookJob, type NotifyContext } from '../../src/notify/webhook-job.js';
import { createLogger } from '../../src/observability/logger.js';
import type { SubjectRef } from '../../src/quota/types.js';
import { SubjectStore } from '../../src/subjects/subject-store.js';
import type { JobData, WorkerContext } from '../../src/jobs/job.js';
import { startWorker, type WorkerHandle } from '../../src/worker/worker.js';
import { createEngineFixture, T0, type EngineFixture } from '../support/engine.js';
import { databaseUrl, redisUrl } from '../support/services.js';
import { NEXT_PERIOD_START, PERIOD_START } from '../support/test-time.js';

const SECRET = 'test-notify-secret-0123456789';
const ABUSE_PER_MINUTE = 5;
/** The calendar period T0 is in. */
const PERIOD = PERIOD_START;
const logger = createLogger('silent');

interface Delivery {
  id: string;
  type: string;
  createdAt: string;
  data: Record<string, unknown>;
  eventIdHeader: string | undefined;
  verified: boolean;
  status: number;
}

/** A loopback webhook receiver: checks every signature, records every request, fails on demand. */
const received: Delivery[] = [];
/** Subjects whose first delivery is answered 500. */
const failFirst = new Set<string>();
let server: Server;
let receiverUrl: string;

let f: EngineFixture;
let env: Env;
let worker: WorkerHandle;
let store: SubjectStore;

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const signature = req.headers['quotagate-signature'];
      const verified = verifySignature(SECRET, typeof signature === 'string' ? signature : undefined, raw, Date.now() / 1000);
      const body = JSON.parse(raw.toString('utf8')) as { id: string; type: string; created_at: string; data: Record<string, unknown> };
      const subject = String(body.data.subject_id);
      let status = verified ? 200 : 401;
      if (verified && failFirst.delete(subject)) status = 500;
      const eventId = req.headers['quotagate-event-id'];
      received.push({
        id: body.id,
        type: body.type,
        createdAt: body.created_at,
        data: body.data,
        eventIdHeader: typeof eventId === 'string' ? eventId : undefined,
        verified,
        status,
      });
      res.writeHead(status, { 'content-type': 'text/plain' }).end(status === 200 ? 'ok' : 'try again');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  receiverUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/quotagate`;

  f = await createEngineFixture({ partitions: 4 });
  env = loadEnv({
    REDIS_URL: redisUrl(),
    DATABASE_URL: databaseUrl(),
    QG_KEY_PREFIX: f.keys.prefix,
    QG_PARTITIONS: String(f.keys.partitions),
    QG_FLUSH_INTERVAL_MS: '50',
    QG_NOTIFY_URL: receiverUrl,
    QG_NOTIFY_SECRET: SECRET,
    QG_ABUSE_DENIALS_PER_MINUTE: String(ABUSE_PER_MINUTE),
  });
  // The engine's ManualClock drives the worker too: denials are tallied, and read, by its minute.
  worker = await startWorker({ env, policy: f.engine.policy, logger, clock: f.clock });
  store = new SubjectStore(f.pool);
});

afterAll(async () => {
  await worker?.close();
  await f?.close();
  await new Promise((resolve) => server?.close(resolve));
});

let subjects = 0;
async function newSubject(plan = 'test', overrides?: Record<string, number | null>): Promise<SubjectRef> {
  const id = `notify-${process.pid}-${++subjects}-${randomUUID().slice(0, 8)}`;
  await store.create({ id, plan, overrides });
  return { id, plan, anchor: null, overrides };
}

async function consume(subject: SubjectRef, amount: number, metric = 'gens'): Promise<string> {
  return (await f.engine.consume({ subject, charges: [{ metric, amount }] })).outcome;
}

/** Polls `check` until it returns a value that is not undefined/false (at most 20 s). */
async function waitFor<T>(what: string, check: () => T | Promise<T>, timeoutMs = 20_000): Promise<Exclude<T, false | undefined>> {
  for (const deadline = Date.now() + timeoutMs; ;) {
    const value = await check();
    if (value !== undefined && value !== false) return value as Exclude<T, false | undefined>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const deliveriesOf = (subjectId: string, type = 'usage.threshold') => received.filter((d) => d.data.subject_id === subjectId && d.type === type);
const successful = (subjectId: string, type?: string) => deliveriesOf(subjectId, type).filter((d) => d.status === 200);
const thresholdsDelivered = (subjectId: string) =>
  successful(subjectId)
    .map((d) => d.data.threshold)
    .sort((a, b) => Number(a) - Number(b));

async function flushedUsage(subjectId: string, metric = 'gens'): Promise<number | undefined> {
  const { rows } = await f.pool.query<{ value: string }>(`SELECT value FROM usage_counters WHERE subject_id = $1 AND metric = $2 AND period_start = $3`, [
    subjectId,
    metric,
    new Date(PERIOD).toISOString(),
  ]);
  return rows[0] ? Number(rows[0].value) : undefined;
}

async function notificationRows(subjectId: string) {
  const { rows } = await f.pool.query<{ id: string; kind: string; threshold: string; attempts: number; delivered: boolean; last_error: string | null }>(
    `SELECT id, kind, threshold, attempts, delivered_at IS NOT NULL AS delivered, last_error
       FROM notifications WHERE subject_id = $1 ORDER BY created_at, threshold`,
    [subjectId],
  );
  return rows;
}

describe('usage threshold webhooks, with the worker running', () => {
  it('sends 80 % once, nothing new at 81 %, then 95 % and 100 % once each; every delivery signed', async () => {
    const subject = await newSubject();
    expect(await consume(subject, 80)).toBe('allowed');
    const [first] = await waitFor('the 80 % webhook', () => (successful(subject.id).length > 0 ? successful(subject.id) : undefined));
    expect(first).toMatchObject({
      type: 'usage.threshold',
      verified: true,
      data: {
        subject_id: subject.id,
        plan: 'test',
        metric: 'gens',
        metric_kind: 'counter',
        threshold: 80,
        percent: 80,
        status: 'warning',
        used: 80,
        limit: 100,
        remaining: 20,
        grant_balance: 0,
        period_start: new Date(PERIOD_START).toISOString(),
        resets_at: new Date(NEXT_PERIOD_START).toISOString(),
      },
    });
    expect(first!.eventIdHeader).toBe(first!.id);
    expect(Number.isNaN(Date.parse(first!.createdAt))).toBe(false);

    // 81 %: flushed and checked, and still one 80 % notification.
    expect(await consume(subject, 1)).toBe('allowed');
    await waitFor('81 in the ledger', async () => (await flushedUsage(subject.id)) === 81);
    expect(await consume(subject, 14)).toBe('allowed'); // 95 %
    await waitFor('the 95 % webhook', () => thresholdsDelivered(subject.id).includes(95));
    expect(thresholdsDelivered(subject.id)).toEqual([80, 95]);

    expect(await consume(subject, 5)).toBe('allowed'); // 100 %
    await waitFor('the 100 % webhook', () => thresholdsDelivered(subject.id).includes(100));
    expect(await consume(subject, 1)).toBe('denied'); // a denied event is checked too: nothing new
    expect(thresholdsDelivered(subject.id)).toEqual([80, 95, 100]);
    expect(successful(subject.id).at(-1)!.data).toMatchObject({ threshold: 100, status: 'exceeded', percent: 100, remaining: 0 });
    expect(deliveriesOf(subject.id).every((d) => d.verified && d.status === 200)).toBe(true);

    // The receiver has answered; the worker records the delivery a moment later.
    const rows = await waitFor('the deliveries to be recorded', async () => {
      const all = await notificationRows(subject.id);
      return all.every((r) => r.delivered) ? all : undefined;
    });
    expect(rows.map((r) => [r.kind, r.threshold, r.attempts, r.delivered, r.last_error])).toEqual([
      ['usage_threshold', '80', 1, true, null],
      ['usage_threshold', '95', 1, true, null],
      ['usage_threshold', '100', 1, true, null],
    ]);
    expect(new Set(successful(subject.id).map((d) => d.id))).toEqual(new Set(rows.map((r) => r.id)));
  });

  it('sends every threshold a single jump crosses', async () => {
    const subject = await newSubject();
    expect(await consume(subject, 100)).toBe('allowed');
    await waitFor('three webhooks', () => thresholdsDelivered(subject.id).length === 3);
    expect(thresholdsDelivered(subject.id)).toEqual([80, 95, 100]);
  });

  it('retries a delivery the receiver refused (500), with the same event id, until it is accepted', async () => {
    const subject = await newSubject();
    failFirst.add(subject.id);
    expect(await consume(subject, 85)).toBe('allowed');
    await waitFor('the retried delivery', () => successful(subject.id).length === 1);
    const attempts = deliveriesOf(subject.id);
    expect(attempts.map((d) => d.status)).toEqual([500, 200]);
    expect(attempts[0]!.id).toBe(attempts[1]!.id);
    expect(attempts.every((d) => d.verified)).toBe(true);
    const rows = await waitFor('the delivery recorded', async () => {
      const r = await notificationRows(subject.id);
      return r[0]?.delivered ? r : undefined;
    });
    expect(rows).toEqual([expect.objectContaining({ threshold: '80', attempts: 2, delivered: true, last_error: null })]);
  });
});

describe('projected exceed webhooks', () => {
  const DAY = 86_400_000;
  /** `perDay` gens at 20:00 on each of the `days` days before T0's, then the ledger has them. */
  async function usedDaily(subject: SubjectRef, perDay: number, days: number): Promise<void> {
    for (let d = days; d >= 1; d--) {
      f.clock.set(T0 - (T0 % DAY) - d * DAY + 20 * 3_600_000);
      expect(await consume(subject, perDay)).toBe('allowed');
    }
    await waitFor('the ledger', async () => (await flushedUsage(subject.id)) === perDay * days);
  }

  it('sends usage.projected_exceed once per period for a counter on pace to run out before its period ends', async () => {
    const [onPace, fits, unlimited] = [await newSubject(), await newSubject(), await newSubject('unlimited')];
    await usedDaily(onPace, 10, 6); // 60 of 100 used at 10 a day: out within 4 days
    await usedDaily(fits, 2, 6); // 12 used at 2 a day: 88 left for the rest of the month
    await usedDaily(unlimited, 10, 6);
    f.clock.set(T0);

    await worker.enqueue('projected-exceed');
    const [delivery] = await waitFor('the projected_exceed webhook', () =>
      successful(onPace.id, 'usage.projected_exceed').length > 0 ? successful(onPace.id, 'usage.projected_exceed') : undefined,
    );
    expect(delivery).toMatchObject({
      verified: true,
      data: {
        subject_id: onPace.id,
        plan: 'test',
        metric: 'gens',
        used: 60,
        limit: 100,
        remaining: 40,
        grant_balance: 0,
        period_start: new Date(PERIOD_START).toISOString(),
        resets_at: new Date(NEXT_PERIOD_START).toISOString(),
        // 40 left at 10 a day from the 10th at 12:00: the 14th at 12:00.
        forecast: { estimate: true, basis_days: 6, daily_rate: 10, limit_reached_at: new Date(T0 + 4 * DAY).toISOString() },
      },
    });

    // Later runs in the same period record nothing new; the others never had one.
    const job = projectedExceedJob({ ...testContext(env), clock: f.clock } as unknown as WorkerContext);
    f.clock.set(T0 + 3_600_000);
    expect(await job.run({})).toBe(0);
    expect((await notificationRows(onPace.id)).map((r) => r.kind)).toEqual(['projected_exceed']);
    expect(await notificationRows(fits.id)).toEqual([]);
    expect(await notificationRows(unlimited.id)).toEqual([]);
  });
});

describe('abuse webhooks', () => {
  it('reports a subject whose denials in a minute exceed QG_ABUSE_DENIALS_PER_MINUTE, once per minute', async () => {
    const abuser = await newSubject();
    const modest = await newSubject();
    // The minute 12:10 on the fixture's clock; the job looks at full minutes before "now".
    const minute = T0 + 10 * 60_000;
    f.clock.set(minute + 5_000);
    for (let i = 0; i < ABUSE_PER_MINUTE + 2; i++) expect(await consume(abuser, 101)).toBe('denied');
    for (let i = 0; i < ABUSE_PER_MINUTE; i++) expect(await consume(modest, 101)).toBe('denied'); // at the rate, not above it
    f.clock.set(minute + 61_000);

    await worker.enqueue('abuse');
    const [delivery] = await waitFor('the abuse webhook', () => (successful(abuser.id, 'abuse.suspected').length > 0 ? successful(abuser.id, 'abuse.suspected') : undefined));
    expect(delivery).toMatchObject({
      verified: true,
      data: {
        subject_id: abuser.id,
        denials: ABUSE_PER_MINUTE + 2,
        limit_per_minute: ABUSE_PER_MINUTE,
        minute_start: new Date(minute).toISOString(),
        minute_end: new Date(minute + 60_000).toISOString(),
      },
    });

    // Another run over the same minutes records nothing new; the subject at the rate never had one.
    const job = abuseJob({ ...testContext(env), redis: f.redis, keys: f.keys, clock: f.clock } as unknown as WorkerContext);
    expect(await job.run({})).toBe(0);
    expect((await notificationRows(abuser.id)).map((r) => [r.kind, r.threshold])).toEqual([['abuse', new Date(minute).toISOString()]]);
    expect(await notificationRows(modest.id)).toEqual([]);
    // Quota denials of a subject with nothing used are no usage threshold.
    expect(deliveriesOf(abuser.id, 'usage.threshold')).toEqual([]);
  });
});

/** A context for running notify code directly: the test's pool, and a queue that only records. */
function testContext(e: Env) {
  const enqueued: string[] = [];
  const queue = {
    addBulk: async (jobs: { name: string; data: JobData }[]) => {
      for (const j of jobs) enqueued.push(String(j.data.notificationId));
      return [];
    },
  } as unknown as Queue<JobData>;
  const ctx: NotifyContext & Pick<WorkerContext, 'policy'> = { pool: f.pool, queue, env: e, logger, policy: f.engine.policy };
  return Object.assign(ctx, { enqueued });
}

describe('usage threshold rules (ThresholdNotifier.check)', () => {
  const NOW = T0;
  const touch = (subjectId: string, used: number | null, metric = 'gens', periodStart: number | null | undefined = metric === 'projects' ? null : PERIOD) => ({
    subjectId,
    metric,
    periodStart,
    used,
    at: NOW,
  });
  const grant = (subjectId: string, metric: string, remaining: number, extra: { expiresAt?: number; revoked?: boolean } = {}) =>
    f.pool.query(`INSERT INTO grants (id, subject_id, metric, amount, remaining, expires_at, revoked_at) VALUES ($1, $2, $3, $4, $4, $5, $6)`, [
      randomUUID(),
      subjectId,
      metric,
      remaining,
      extra.expiresAt ? new Date(extra.expiresAt).toISOString() : null,
      extra.revoked ? new Date(NOW).toISOString() : null,
    ]);

  it('counts usable grants in the capacity, and only those (not expired, not revoked)', async () => {
    const ctx = testContext(env);
    const notifier = new ThresholdNotifier(ctx);
    const subject = await newSubject();
    await grant(subject.id, 'gens', 40);
    await grant(subject.id, 'gens', 500, { expiresAt: NOW - 1 });
    await grant(subject.id, 'gens', 500, { revoked: true });
    expect(await notifier.check([touch(subject.id, 100)], NOW)).toBe(0); // 100 / 140 = 71 %
    // Grant balances are what is left after draws: 160 used, 40 left → 160 / 200 = 80 %.
    expect(await notifier.check([touch(subject.id, 160)], NOW)).toBe(1);
    const [row] = await notificationRows(subject.id);
    expect(ctx.enqueued).toEqual([row!.id]);
    expect(await notifier.check([touch(subject.id, 170)], NOW)).toBe(0); // 81 %: 80 % was recorded
  });

  it('skips unlimited metrics (plan or override), metrics not in the policy, unknown subjects and zero usage', async () => {
    const notifier = new ThresholdNotifier(testContext(env));
    const unlimited = await newSubject('unlimited');
    const overridden = await newSubject('test', { gens: null });
    const limitZero = await newSubject('test', { gens: 0 });
    expect(
      await notifier.check(
        [touch(unlimited.id, 1_000_000), touch(overridden.id, 1_000), touch(limitZero.id, 0), touch(`nobody-${randomUUID()}`, 1_000), touch(overridden.id, 1_000, 'not_a_metric')],
        NOW,
      ),
    ).toBe(0);
    for (const s of [unlimited, overridden, limitZero]) expect(await notificationRows(s.id)).toEqual([]);
  });

  it('uses limit overrides, and records gauges once under the -infinity period', async () => {
    const notifier = new ThresholdNotifier(testContext(env));
    const subject = await newSubject('test', { gens: 10 });
    expect(await notifier.check([touch(subject.id, 10), touch(subject.id, 4, 'projects')], NOW)).toBe(4);
    const { rows } = await f.pool.query<{ metric: string; period: string; threshold: string; payload: Record<string, unknown> }>(
      `SELECT metric, period_start::text AS period, threshold, payload FROM notifications WHERE subject_id = $1 ORDER BY metric, threshold::int`,
      [subject.id],
    );
    expect(rows.map((r) => [r.metric, r.threshold])).toEqual([
      ['gens', '80'],
      ['gens', '95'],
      ['gens', '100'],
      ['projects', '80'],
    ]);
    expect(rows[3]).toMatchObject({ period: '-infinity', payload: { metric_kind: 'gauge', used: 4, limit: 5, period_start: null, resets_at: null } });
  });

  it('reads usage from the ledger for events that carry none (a grant revoked)', async () => {
    const notifier = new ThresholdNotifier(testContext(env));
    const subject = await newSubject();
    await f.pool.query(`INSERT INTO usage_counters (subject_id, metric, period_start, value) VALUES ($1, 'gens', $2, 96)`, [subject.id, new Date(PERIOD).toISOString()]);
    expect(await notifier.check([touch(subject.id, null, 'gens', undefined)], NOW)).toBe(2);
    expect((await notificationRows(subject.id)).map((r) => r.threshold).sort()).toEqual(['80', '95']);
  });
});

describe('recording and delivering without a receiver configured', () => {
  it('records a notification once, enqueues nothing, and the webhook job reports "not configured"', async () => {
    const unconfigured = loadEnv({ REDIS_URL: redisUrl(), DATABASE_URL: databaseUrl() });
    const ctx = testContext(unconfigured);
    const subject = await newSubject();
    const input = { kind: 'drift' as const, subjectId: subject.id, metric: 'gens', periodStart: PERIOD, threshold: 'run-1', payload: { redis: 3, ledger: 5 } };
    const id = await recordNotification(ctx, input);
    expect(id).toEqual(expect.any(String));
    expect(await recordNotification(ctx, input)).toBeNull();
    expect(await recordNotification(ctx, { ...input, threshold: 'run-2' })).toEqual(expect.any(String));
    expect(ctx.enqueued).toEqual([]);

    const job = webhookJob({ ...ctx, env: unconfigured } as unknown as WorkerContext);
    expect(await job.run({ notificationId: id })).toBe('not configured');
    expect((await notificationRows(subject.id))[0]).toMatchObject({ id, kind: 'drift', attempts: 0, delivered: false });
  });
});
