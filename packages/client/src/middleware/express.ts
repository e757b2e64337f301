import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { isStorable, QuotaRun, rateLimitHeaders, type QuotaContext, type QuotaOptions } from './quota-run.js';

export type { QuotaContext, QuotaOptions } from './quota-run.js';

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Locals {
      /** The quotagate decision for this request, set by `quota()`. */
      quota?: QuotaContext;
    }
  }
}

/** Writes a Fetch API response (a denial, a replay) to Express's response. */
async function send(res: Response, answer: globalThis.Response): Promise<void> {
  res.status(answer.status);
  answer.headers.forEach((value, name) => res.setHeader(name, value));
  res.end(Buffer.from(await answer.arrayBuffer()));
}

type Chunk = string | Uint8Array;
const bytesOf = (chunk: Chunk, encoding?: BufferEncoding) => (typeof chunk === 'string' ? Buffer.from(chunk, encoding) : Buffer.from(chunk));

/**
 * Express middleware: decides the request with quotagate before the handler (402/429
 * problem+json with the RateLimit fields when denied), refunds when the handler fails
 * (Express answers 5xx) and settles otherwise — before the response's last byte leaves, so a
 * client's retry finds the request done. The handler reads `res.locals.quota`.
 */
export function quota(options: QuotaOptions<Request>): RequestHandler {
  return function quotaMiddleware(req: Request, res: Response, next: NextFunction) {
    QuotaRun.begin(options, req, { get: (name) => req.get(name) ?? null })
      .then(async (begun) => {
        if ('answer' in begun) return send(res, begun.answer);
        const run = begun.run;
        res.locals.quota = run;
        // Keep a copy of a small text body for replays, and end the run before the response ends.
        const max = run.maxStoredBytes;
        let kept: Buffer[] | null = max > 0 ? [] : null;
        let size = 0;
        const keep = (chunk: Chunk | undefined, encoding?: BufferEncoding) => {
          if (!kept || chunk === undefined || (typeof chunk !== 'string' && !(chunk instanceof Uint8Array))) return;
          const bytes = bytesOf(chunk, encoding);
          size += bytes.byteLength;
          kept = size > max ? null : (kept.push(bytes), kept);
        };
        const write = res.write.bind(res) as (...args: unknown[]) => boolean;
        const end = res.end.bind(res) as (...args: unknown[]) => Response;
        res.write = ((chunk: Chunk, ...rest: unknown[]) => {
          keep(chunk, typeof rest[0] === 'string' ? (rest[0] as BufferEncoding) : undefined);
          return write(chunk, ...rest);
        }) as Response['write'];
        res.end = ((...args: unknown[]) => {
          const [chunk, encoding] = typeof args[0] === 'function' ? [] : args;
          keep(chunk as Chunk | undefined, typeof encoding === 'string' ? (encoding as BufferEncoding) : undefined);
          if (!res.headersSent) for (const [name, value] of rateLimitHeaders(run.rateLimit)) res.setHeader(name, value);
          const status = res.statusCode;
          const text = kept && isStorable(String(res.getHeader('content-type') ?? '') || null) ? Buffer.concat(kept).toString('utf8') : null;
          const headers = Object.entries(res.getHeaders()).map(([name, value]) => [name, Array.isArray(value) ? value.join(', ') : String(value)] as [string, string]);
          void (status >= 500 ? run.failed() : run.succeeded({ status, headers, text })).finally(() => end(...args));
          return res;
        }) as Response['end'];
        next();
      })
      .catch(next);
  };
}
