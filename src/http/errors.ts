import type { Context, ErrorHandler, NotFoundHandler } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { Logger } from 'pino';
import { isPostgresOutage } from '../db/connection-error.js';
import { problemBody, problemResponse, ProblemError, type ProblemCode } from './problem.js';
import './context.js';

const CODE_BY_STATUS: Record<number, ProblemCode> = {
  400: 'invalid_request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
};

/**
 * Every error becomes problem+json: ProblemErrors as they are, Hono's HTTP exceptions
 * (malformed JSON, body limits) by their status, a lost database a 503, anything else a
 * logged 500 that shows no internals.
 */
export function errorHandler(logger: Logger, onPostgresOutage: () => void = () => {}): ErrorHandler {
  return (err: Error, c: Context) => {
    if (err instanceof ProblemError) return problemResponse(err.body, err.headers);
    if (err instanceof HTTPException && CODE_BY_STATUS[err.status]) {
      const detail =
        err.status === 400 && /JSON/i.test(err.message)
          ? 'the request body is not valid JSON'
          : err.status === 415
            ? 'the request body must be JSON (content-type: application/json)'
            : err.message;
      // A body that is not JSON names the body, as the proxied routes do.
      const extra = err.status === 400 && /JSON/i.test(err.message) ? { field: 'body' } : {};
      return problemResponse(problemBody(CODE_BY_STATUS[err.status]!, detail, extra));
    }
    // The admin API and billing webhooks query Postgres directly: its outage is a 503, not a bug.
    if (isPostgresOutage(err)) {
      (c.get('log') ?? logger).warn({ err: err.message }, 'postgres unavailable');
      onPostgresOutage();
      return problemResponse(problemBody('backend_unavailable', 'the database is unavailable right now; retry shortly'), { 'retry-after': '1' });
    }
    const requestId = c.get('requestId');
    (c.get('log') ?? logger).error({ err }, 'unhandled error');
    return problemResponse(problemBody('internal_error', `an unexpected error occurred (request ${requestId ?? 'unknown'})`));
  };
}

export const notFound: NotFoundHandler = (c) => problemResponse(problemBody('not_found', `no route for ${c.req.method} ${new URL(c.req.url).pathname}`));
