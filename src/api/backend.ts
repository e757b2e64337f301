import type { Context } from 'hono';
import type { GatewayDeps } from '../http/gateway-deps.js';
import { ProblemError } from '../http/problem.js';
import { EngineInputError } from '../quota/errors.js';
import type { Decision } from '../quota/types.js';

/**
 * Runs an engine call for an API request: Redis or Postgres trouble becomes a 503 with
 * Retry-After (nothing was decided, so nothing was charged); contract errors stay bugs.
 */
export async function backend<T>(c: Context, deps: GatewayDeps, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof ProblemError || err instanceof EngineInputError) throw err;
    deps.metrics.backendError(err);
    c.get('log').warn({ err }, 'quota backend unavailable');
    throw new ProblemError('backend_unavailable', 'quota decisions are unavailable right now; retry shortly', {}, { 'retry-after': '1' });
  }
}

/**
 * A decision of the decision API (`route` names the endpoint: api:consume, api:check,
 * api:reserve), run as backend() runs it and counted and timed as a proxied route's are.
 */
export async function decide(c: Context, deps: GatewayDeps, route: string, work: () => Promise<Decision>): Promise<Decision> {
  const started = performance.now();
  try {
    const decision = await backend(c, deps, work);
    deps.metrics.decided(route, decision);
    return decision;
  } catch (err) {
    if (err instanceof ProblemError && err.body.code === 'backend_unavailable') deps.metrics.decisions.inc({ route, outcome: 'unavailable' });
    throw err;
  } finally {
    deps.metrics.decisionSeconds.observe({ route }, (performance.now() - started) / 1000);
  }
}
