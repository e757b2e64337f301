import { QuotaRun, type QuotaContext, type QuotaOptions } from './quota-run.js';
import { endWithResponse } from './web-response.js';

export type { QuotaContext, QuotaOptions } from './quota-run.js';

/** A Next.js App Router route handler: `(request, { params })` → Response. */
export type RouteHandler<Ctx> = (request: Request, context: Ctx) => Response | Promise<Response>;

/**
 * Wraps a Next.js App Router route handler (a plain `Request → Response` function, so it
 * also runs on the edge runtime): decided before the handler (402/429 problem+json with the
 * RateLimit fields when denied), refunded when it throws or answers 5xx, settled otherwise.
 * The handler gets the decision as `context.quota`.
 *
 *   export const POST = withQuota(async (req, { quota }) => Response.json(...), { client, charges: [...] });
 */
export function withQuota<Ctx extends object = object>(
  handler: (request: Request, context: Ctx & { quota: QuotaContext }) => Response | Promise<Response>,
  options: QuotaOptions<Request>,
): RouteHandler<Ctx> {
  return async function quotaRouteHandler(request, context) {
    const begun = await QuotaRun.begin(options, request, request.headers);
    if ('answer' in begun) return begun.answer;
    let response: Response;
    try {
      response = await handler(request, { ...context, quota: begun.run });
    } catch (err) {
      await begun.run.failed();
      throw err;
    }
    return endWithResponse(begun.run, response);
  };
}
