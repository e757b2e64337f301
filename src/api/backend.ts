import type { Context } from 'hono';
import type { GatewayDeps } from '../http/gateway-deps.js';
import { ProblemError } from '../http/problem.js';
import { EngineInputError } from '../quota/engine.js';

/**
 * Runs an engine call for an API request: Redis or Postgres trouble becomes a 503 with
 * Retry-After (nothing was decided, so nothing was charged); contract errors stay bugs.
 */
export async function backend<T>(c: Context, deps: GatewayDeps, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof ProblemError || err instanceof EngineInputError) throw err;
    deps.metrics.backendErrors.inc({ backend: 'redis' });
    c.get('log').warn({ err }, 'quota backend unavailable');
    throw new ProblemError('backend_unavailable', 'quota decisions are unavailable right now; retry shortly', {}, { 'retry-after': '1' });
  }
}
