import type { Pool } from 'pg';
import { KeyStore } from '../../src/auth/key-store.js';
import { parsePolicy } from '../../src/config/load-policy.js';
import type { Policy } from '../../src/config/policy.js';
import { SubjectStore } from '../../src/subjects/subject-store.js';

/**
 * What `npm run bench:gateway` sends: `POST /v1/exports` with a small JSON body, the demo
 * upstream's cheapest route (it answers 202 with a small JSON body). Through the gateway
 * it is the shipped `export` route with its plan shaped like `growth`: 1 unit of a counter
 * plus the plan's request rate (GCRA), both set far above the load so that every request
 * runs the whole decision and none is denied. As shipped, the route refunds a failed
 * upstream call (on_upstream_error: refund, the default); with no concurrency limit and no
 * idempotency key nothing is held, so the unit is charged outright and only a failure would
 * run a refund: one Redis script per request.
 */
export const ROUTE = { name: 'export', method: 'POST', path: '/v1/exports' } as const;
export const METRIC = 'exports';
export const PLAN = 'bench';
export const LIMIT = 1_000_000_000;
/** The schema's largest rate: never reached by this load, yet checked on every request. */
export const RATE = { rps: 1_000_000, burst: 1_000_000 };
export const REQUEST_BODY = JSON.stringify({ format: 'csv', dataset: 'events' });

/** The gateway's policy, every part of it used by the one route. */
export function benchGatewayPolicy(upstreamUrl: string): Policy {
  return parsePolicy(
    {
      metrics: { [METRIC]: { kind: 'counter', description: 'data exports per billing period' } },
      plans: { [PLAN]: { limits: { [METRIC]: LIMIT }, rate: RATE } },
      default_plan: PLAN,
      routes: [{ name: ROUTE.name, match: { method: ROUTE.method, path: ROUTE.path }, upstream: upstreamUrl, charge: [{ metric: METRIC, amount: 1 }] }],
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
  return { authorization: `Bearer ${secrets[n % secrets.length]!}`, 'content-type': 'application/json' };
}
