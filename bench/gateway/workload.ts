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
  route: Route;
  body: string;
  /** Request headers besides the API key (the demo upstream's controls). */
  headers: Record<string, string>;
  /** What the demo answers, for the report. */
  answer: string;
  /** How the gateway variant charges the route. */
  charging: Charging;
  /**
   * The same request on the same route charged 1 unit of a counter instead, run as a third
   * variant (`fixed`): what the route's own charging costs beyond the gateway's fixed-charge
   * path, measured in the same run (issue 12's target compares the two).
   */
  fixedTwin?: Charging;
}

interface Route {
  name: string;
  method: 'POST';
  path: string;
}

/** How a gateway variant charges the route: its part of the policy, and the report's words for it. */
interface Charging {
  /** The route as the report describes it (markdown, after "route `<name>`"). */
  charges: string;
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

/** The route charged 1 unit of a counter per request, as the shipped `export` route is charged. */
function fixedCharge(route: Route, metric: string, words: { description?: string; scripts: string }): Charging {
  return {
    charges: `charging 1 × \`${metric}\` (counter, limit ${LIMIT.toLocaleString('en-US')})`,
    scripts: words.scripts,
    metrics: { [metric]: { kind: 'counter', ...(words.description && { description: words.description }) } },
    limits: { [metric]: LIMIT },
    routeDef: (upstream) => [{ name: route.name, match: { method: route.method, path: route.path }, upstream, charge: [{ metric, amount: 1 }] }],
  };
}

const exportRoute: Route = { name: 'export', method: 'POST', path: '/v1/exports' };

const exportWorkload: Workload = {
  figures: 'gateway',
  route: exportRoute,
  body: JSON.stringify({ format: 'csv', dataset: 'events' }),
  headers: {},
  answer: '202, a small JSON body',
  charging: fixedCharge(exportRoute, 'exports', {
    description: 'data exports per billing period',
    // Wrapped as the report's markdown is (continuation lines indented under their bullet).
    scripts: [
      'The route refunds failed upstream calls (`on_upstream_error: refund`, the default); with no reservation,',
      '    concurrency limit or Idempotency-Key to hold, the unit is charged outright and a refund script would run only after a failure: one Redis',
      "    script per request. The request body (declared length) is read whole, and the demo's answer, which arrives whole with its headers, goes",
      '    back in one write; larger or slower bodies would stream.',
    ].join('\n'),
  }),
};

const chatRoute: Route = { name: 'chat', method: 'POST', path: '/v1/chat/completions' };

const pricedStreamWorkload: Workload = {
  figures: 'gateway-priced-stream',
  route: chatRoute,
  body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Say something short about rate limits.' }], max_tokens: 64, stream: true }),
  headers: { 'x-demo-completion-tokens': '16', 'x-demo-chunk-delay-ms': '0' },
  answer: 'an SSE stream of about five chunks and [DONE]',
  charging: {
    charges:
      "with `provider: openai_chat` reserving `ai_tokens` (max_tokens + body bytes / 4) and `credits` (that estimate at gpt-4o-mini's prices), " +
      'asking the upstream for include_usage and hiding its chunk, reading the usage and settling both (limits ' +
      `${LIMIT.toLocaleString('en-US')})`,
    scripts: [
      'Each request holds its reservation (one consume script) and settles it from the usage the stream reported (one',
      '    settle script, after the response has left): two Redis scripts per request. The request body is read whole and rewritten (include_usage);',
      '    the stream is relayed chunk by chunk through the tap, which reads the usage event and cuts it out of what the client gets. The baseline',
      '    forwards the request as sent, so its stream has no usage chunk.',
    ].join('\n'),
    metrics: { ai_tokens: { kind: 'counter' }, credits: { kind: 'counter', description: 'micro-dollars' } },
    limits: { ai_tokens: LIMIT, credits: LIMIT },
    prices: { credits: { per_tokens: 1_000_000, models: { 'gpt-4o-mini*': { input: 150_000, cached_input: 75_000, output: 600_000 } } } },
    routeDef: (upstream) => [
      {
        name: chatRoute.name,
        match: { method: chatRoute.method, path: chatRoute.path },
        upstream,
        provider: 'openai_chat',
        charge: [
          { metric: 'ai_tokens', reserve: { default: 1024, max: 32_768 }, settle: { usage: 'total' } },
          { metric: 'credits', reserve: { default: 1024, max: 1_000_000 }, settle: { usage: 'price' } },
        ],
      },
    ],
  },
  // Issue 12's target: the priced route's gateway CPU per request within 15 % of this one's.
  fixedTwin: fixedCharge(chatRoute, 'chats', {
    scripts: [
      'No provider: nothing is reserved or settled, the unit is charged outright: one Redis script per request.',
      '    The request goes upstream as sent and its stream is relayed as it comes (no tap, no filter, no usage chunk, as for the baseline). A',
      '    gateway process of its own, with a Redis key prefix of its own.',
    ].join('\n'),
  }),
};

const workloads = { export: exportWorkload, 'priced-stream': pricedStreamWorkload };

function selectWorkload(name = 'export'): Workload {
  if (!Object.hasOwn(workloads, name)) throw new Error(`BENCH_WORKLOAD must be one of ${Object.keys(workloads).join(', ')}, not "${name}"`);
  return workloads[name as keyof typeof workloads];
}

/** How the report describes a workload; saved with the figures, which are rendered again by later runs of other workloads. */
export interface WorkloadDescription {
  /** The npm script that runs it (absent in figures saved before it was recorded). */
  command?: string;
  route: Workload['route'];
  bodyBytes: number;
  answer: string;
  charges: string;
  scripts: string;
  /** The fixed-charge twin's (absent in figures saved before there was one, and in the export workload). */
  fixedTwin?: { charges: string; scripts: string };
}

export const describeWorkload = (w: Workload): WorkloadDescription => ({
  command: w.figures === 'gateway' ? 'npm run bench:gateway' : 'npm run bench:gateway:priced',
  route: w.route,
  bodyBytes: Buffer.byteLength(w.body),
  answer: w.answer,
  charges: w.charging.charges,
  scripts: w.charging.scripts,
  ...(w.fixedTwin && { fixedTwin: { charges: w.fixedTwin.charges, scripts: w.fixedTwin.scripts } }),
});

/** The description of figures saved before workloads had one: they were all of the export workload. */
export const EXPORT_WORKLOAD = describeWorkload(exportWorkload);

/** The workload of this run (the server processes read the same variable). */
export const WORKLOAD = selectWorkload(process.env.BENCH_WORKLOAD || undefined);
export const ROUTE = WORKLOAD.route;
export const REQUEST_BODY = WORKLOAD.body;

/** A gateway variant's policy, every part of it used by the one route: `gateway` charges as the workload's route does, `fixed` as its fixed-charge twin. */
export function benchGatewayPolicy(upstreamUrl: string, variant: 'gateway' | 'fixed'): Policy {
  const charging = variant === 'gateway' ? WORKLOAD.charging : WORKLOAD.fixedTwin;
  if (!charging) throw new Error(`the ${WORKLOAD.figures} workload has no fixed-charge twin`);
  return parsePolicy(
    {
      metrics: charging.metrics,
      plans: { [PLAN]: { limits: charging.limits, rate: RATE } },
      default_plan: PLAN,
      ...(charging.prices && { prices: charging.prices }),
      routes: charging.routeDef(upstreamUrl),
    },
    `bench gateway policy (${variant})`,
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
