import type { Readable } from 'node:stream';
import { Agent, request } from 'undici';
import type { RouteDef } from '../config/policy.js';
import { ProblemError } from '../http/problem.js';

export type UpstreamFailureKind = 'timeout' | 'unreachable' | 'aborted' | 'failed';

/** The upstream did not answer usably; `kind` decides 504, 502 or nothing (client gone). */
export class UpstreamFailure extends Error {
  constructor(
    readonly kind: UpstreamFailureKind,
    cause: unknown,
  ) {
    super(`upstream ${kind}: ${(cause as Error)?.message ?? String(cause)}`, { cause });
    this.name = 'UpstreamFailure';
  }
}

const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT']);
const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'UND_ERR_SOCKET', 'EPIPE']);

export function classifyUpstreamError(err: unknown): UpstreamFailure {
  if (err instanceof UpstreamFailure) return err;
  const code = (err as { code?: string }).code ?? '';
  if (TIMEOUT_CODES.has(code)) return new UpstreamFailure('timeout', err);
  if (code === 'UND_ERR_ABORTED' || (err as Error).name === 'AbortError') return new UpstreamFailure('aborted', err);
  if (UNREACHABLE_CODES.has(code)) return new UpstreamFailure('unreachable', err);
  return new UpstreamFailure('failed', err);
}

export interface UpstreamResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Readable;
}

/**
 * Calls upstreams over a shared keep-alive pool. Bodies pass through as raw bytes in both
 * directions (no decompression), so what the client gets is what the upstream sent.
 */
export class UpstreamClient {
  private readonly agent = new Agent({ keepAliveTimeout: 30_000, connections: 512, pipelining: 1 });

  async send(options: {
    url: string;
    method: string;
    headers: Record<string, string>;
    body: Uint8Array | Readable | null;
    /** Time to the response headers, and the longest silence between body chunks. */
    timeoutMs: number;
  }): Promise<UpstreamResponse> {
    try {
      const response = await request(options.url, {
        method: options.method as 'GET',
        headers: options.headers,
        body: options.body,
        dispatcher: this.agent,
        headersTimeout: options.timeoutMs,
        bodyTimeout: options.timeoutMs,
      });
      // A status no HTTP client can be given (an upstream answering 600-999): a failed answer,
      // not one to relay (the client's Response could not even be built with it).
      if (response.statusCode < 200 || response.statusCode > 599) {
        response.body.on('error', () => {}).destroy();
        throw new UpstreamFailure('failed', new Error(`the upstream answered with status ${response.statusCode}`));
      }
      return { status: response.statusCode, headers: response.headers, body: response.body };
    } catch (err) {
      throw classifyUpstreamError(err);
    }
  }

  close(): Promise<void> {
    return this.agent.close();
  }
}

/** The client's answer for an upstream that failed before answering: 504 on a timeout, else 502. */
export function upstreamProblem(failure: UpstreamFailure, route: RouteDef): ProblemError {
  if (failure.kind === 'timeout') return new ProblemError('upstream_timeout', `the upstream of route ${route.name} did not answer within ${route.timeout_ms} ms`);
  if (failure.kind === 'failed') return new ProblemError('upstream_error', `the upstream of route ${route.name} did not give a usable answer`);
  return new ProblemError('upstream_error', `the upstream of route ${route.name} could not be reached`);
}
