import type { Context, MiddlewareHandler } from 'hono';
import { QuotaRun, type QuotaContext, type QuotaOptions } from './quota-run.js';
import { endWithResponse } from './web-response.js';

export type { QuotaContext, QuotaOptions } from './quota-run.js';

/** The context variable the middleware sets: `c.get('quota')`. */
export type QuotaVariables = { quota: QuotaContext };

/**
 * Hono middleware: decides the request with quotagate before the handler (402/429
 * problem+json with the RateLimit fields when denied), refunds when the handler throws or
 * answers 5xx, settles otherwise. The handler reads the decision as `c.get('quota')`.
 *
 *   app.post('/generate', quota({ client: (c) => clientFor(c), charges: [{ metric: 'ai_generations', amount: 1 }] }), handler)
 */
export function quota(options: QuotaOptions<Context>): MiddlewareHandler<{ Variables: QuotaVariables }> {
  return async function quotaMiddleware(c, next) {
    const begun = await QuotaRun.begin(options, c as Context, c.req.raw.headers);
    if ('answer' in begun) return begun.answer;
    c.set('quota', begun.run);
    await next();
    // A thrown error has become the app's error answer by now; it is a failure whatever its status.
    if (c.error) {
      await begun.run.failed();
      return;
    }
    c.res = await endWithResponse(begun.run, c.res);
  };
}
