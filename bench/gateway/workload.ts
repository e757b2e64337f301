import type { Pool } from 'pg';
import { KeyStore } from '../../src/auth/key-store.js';
import { parsePolicy } from '../../src/config/load-policy.js';
import type { Policy, PolicyInput } from '../../src/config/policy.js';
import { SubjectStore } from '../../src/subjects/subject-store.js';

/**
 * What `npm run bench:gateway` sends, by BENCH_WORKLOAD:
 *
 * `export` (the default): `POST /v1/exports` with a small JSON body, the demo upstream's
 * cheapest route (it answers 202 with a small JSON body). Through the gateway it is the
 * shipped `export` route with its plan shaped like `growth`: 1 unit of a counter plus the
 * plan's request rate (GCRA), both set far above the load so that every request runs the
 * whole decision and none is denied. As shipped, the route refunds a failed upstream call
 * (on_upstream_error: refund, the default); with no concurrency limit and no idempotency key
 * nothing is held, so the unit is charged outright and only a failure would run a refund:
 * one Redis script per request.
 *
 * `priced-stream` (`npm run bench:gateway:priced`): a streamed OpenAI chat completion
 * without `stream_options.include_usage`, metered as README "Metering AI providers" does
 * it: tokens reserved from max_tokens + the body's size and credits at the model's price,
 * include_usage added upstream and its chunk hidden, the stream's usage read and both
 * settled: two Redis scripts per request (consume, settle). Kept small: a short prompt, 16
 * completion tokens in at most five chunks, no pause between them.
 */
interface Workload {
  /** Where its figures are saved (bench/results/<figures>.json) and rendered. */
  figures: 'gateway' | 'gateway-priced-stream';
  route: { name: string; method: 'POST'; path: string };
  body: string;
  /** Request headers besides the API key (the demo upstream's controls). */
  headers: Record<string, string>;
  /** The route as the report describes it (markdown, after "route `<name>`"). */
  charges: string;
  /** What the demo answers, for the report. */
  answer: string;
  /** The Redis scripts a request runs and how its bodies travel, for the report. */
  scripts: string;
  /** The route and its charges, for the policy. */
  routeDef(upstreamUrl: string): PolicyInput['routes'];
  metrics: PolicyInput['metrics'];
  limits: Record<string, number>;
  prices?: PolicyInput['prices'];
}

export const PLAN = 'bench';
export const LIMIT = 1_000_000_000;
/** The schema's largest rate: never reached by this load, yet checked on every request. */
export const RATE = { rps: 1_000_000, burst: 1_000_000 };

const exportWorkload: Workload = {
  figures: 'gateway',
  route: { name: 'export', method: 'POST', path: '/v1/exports' },
  body: JSON.stringify({ format: 'csv', dataset: 'events' }),
  headers: {},
  answer: '202, a small JSON body',
  // Wrapped as the report's markdown is (continuation lines indented under their bullet).
  scripts: [
    'The route refunds failed upstream calls (`on_upstream_error: refund`, the default); with no reservation,',
    '    concurrency limit or Idempotency-Key to hold, the unit is charged outright and a refund script would run only after a failure: one Redis',
    "    script per request. The request body (declared length) is read whole, and the demo's answer, which arrives whole with its headers, goes",
    '    back in one write; larger or slower bodies would stream.',
  ].join('\n'),
  charges: `charging 1 × \`exports\` (counter, limit ${LIMIT.toLocaleString('en-US')})`,
  metrics: { exports: { kind: 'counter', description: 'data exports per billing period' } },
  limits: { exports: LIMIT },
  routeDef: (upstream) => [{ name: 'export', match: { method: 'POST', path: '/v1/exports' }, upstream, charge: [{ metric: 'exports', amount: 1 }] }],
};

const pricedStreamWorkload: Workload = {
  figures: 'gateway-priced-stream',
  route: { name: 'chat', method: 'POST', path: '/v1/chat/completions' },
  body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Say something short about rate limits.' }], max_tokens: 64, stream: true }),
  headers: { 'x-demo-completion-tokens': '16', 'x-demo-chunk-delay-ms': '0' },
  answer: 'an SSE stream of about five chunks and [DONE]',
  scripts: [
    'Each request holds its reservation (one consume script) and settles it from the usage the stream reported (one',
    '    settle script, after the response has left): two Redis scripts per request. The request body is read whole and rewritten (include_usage);',
    '    the stream is relayed chunk by chunk through the tap (SSE parsing, usage reading) and the filter that drops the usage chunk. The baseline',
    '    forwards the request as sent, so its stream has no usage chunk.',
  ].join('\n'),
  charges:
    "with `provider: openai_chat` reserving `ai_tokens` (max_tokens + body bytes / 4) and `credits` (that estimate at gpt-4o-mini's prices), " +
    'asking the upstream for include_usage and hiding its chunk, reading the usage and settling both (limits ' +
    `${LIMIT.toLocaleString('en-US')})`,
  metrics: { ai_tokens: { kind: 'counter' }, credits: { kind: 'counter', description: 'micro-dollars' } },
  limits: { ai_tokens: LIMIT, credits: LIMIT },
  prices: { credits: { per_tokens: 1_000_000, models: { 'gpt-4o-mini*': { input: 150_000, cached_input: 75_000, output: 600_000 } } } },
  routeDef: (upstream) => [
    {
      name: 'chat',
      match: { method: 'POST', path: '/v1/chat/completions' },
      upstream,
      provider: 'openai_chat',
      charge: [
        { metric: 'ai_tokens', reserve: { default: 1024, max: 32_768 }, settle: { usage: 'total' } },
        { metric: 'credits', reserve: { default: 1024, max: 1_000_000 }, settle: { usage: 'price' } },
      ],
    },
  ],
};

const workloads = { export: exportWorkload, 'priced-stream': pricedStreamWorkload };

function selectWorkload(name = 'export'): Workload {
  if (!Object.hasOwn(workloads, name)) throw new Error(`BENCH_WORKLOAD must be one of ${Object.keys(workloads).join(', ')}, not "${name}"`);
  return workloads[name as keyof typeof workloads];
}

/** How the report describes a workload; saved with the figures, which are rendered again by later runs of other workloads. */
export interface WorkloadDescription {
  route: Workload['route'];
  bodyBytes: number;
  answer: string;
  charges: string;
  scripts: string;
}

export const describeWorkload = (w: Workload): WorkloadDescription => ({
  route: w.route,
  bodyBytes: Buffer.byteLength(w.body),
  answer: w.answer,
  charges: w.charges,
  scripts: w.scripts,
});

/** The description of figures saved before workloads had one: they were all of the export workload. */
export const EXPORT_WORKLOAD = describeWorkload(exportWorkload);

/** The workload of this run (the server processes read the same variable). */
export const WORKLOAD = selectWorkload(process.env.BENCH_WORKLOAD || undefined);
export const ROUTE = WORKLOAD.route;
export const REQUEST_BODY = WORKLOAD.body;

/** The gateway's policy, every part of it used by the one route. */
export function benchGatewayPolicy(upstreamUrl: string): Policy {
  return parsePolicy(
    {
      metrics: WORKLOAD.metrics,
      plans: { [PLAN]: { limits: WORKLOAD.limits, rate: RATE } },
      default_plan: PLAN,
      ...(WORKLOAD.prices && { prices: WORKLOAD.prices }),
      routes: WORKLOAD.routeDef(upstreamUrl),
    },
    'bench gateway policy',
  );
}

export interface BenchKeys {
  /** One API key secret per subject; requests take them in turn. */
  secrets: string[];
  /** Deletes the keys again (the subjects stay, to be reused by the next run). */
  remove(): Promise<void>;
}

/** Subjects `bench-gw-<i>` on the bench plan (created once) and a fresh API key for each. */
export async function createBenchKeys(pool: Pool, subjects: number): Promise<BenchKeys> {
  const subjectStore = new SubjectStore(pool);
  const keyStore = new KeyStore(pool);
  const ids: string[] = [];
  const secrets: string[] = [];
  for (let i = 0; i < subjects; i++) {
    const id = `bench-gw-${i}`;
    // null when it exists from an earlier run: the same subject serves again.
    await subjectStore.create({ id, plan: PLAN });
    const key = await keyStore.create(id, 'npm run bench:gateway');
    ids.push(key.id);
    secrets.push(key.secret);
  }
  return {
    secrets,
    // KeyStore has no delete: a secret is only ever shown once, so keys would pile up run after run.
    remove: async () => void (await pool.query('DELETE FROM api_keys WHERE id = ANY($1)', [ids])),
  };
}

/** The headers of the n-th request: the keys in turn, so each is used (and cached) alike. */
export function requestHeaders(secrets: readonly string[], n: number): Record<string, string> {
  return { authorization: `Bearer ${secrets[n % secrets.length]!}`, 'content-type': 'application/json', ...WORKLOAD.headers };
}
