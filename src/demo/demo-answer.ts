import type { IncomingMessage, ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { intHeader, InvalidRequest, isRecord } from './demo-http.js';

/**
 * What the demo upstream answers, whatever API shape it is asked in: lorem-ipsum words, and
 * usage counted from the request and the `x-demo-*` headers (README "Demo upstream").
 */

const WORDS = ['lorem', 'ipsum', 'dolor', 'sit', 'amet', 'consectetur', 'adipiscing', 'elit'];
export const DEFAULT_COMPLETION_TOKENS = 64;
const MAX_CONTENT_CHUNKS = 5;
export const MAX_WAIT_MS = 3_600_000;

export interface DemoAnswer {
  /** The model that answers: `x-demo-served-model` (a fallback), else the one asked for. */
  model: string;
  /** Prompt tokens, a quarter of the prompt's characters (at least 1), cached ones included. */
  promptTokens: number;
  /** Of the prompt tokens, read from a cache (`x-demo-cached-tokens`). */
  cachedTokens: number;
  /** Written to a cache (`x-demo-cache-write-tokens`; Anthropic reports them apart from the input). */
  cacheWriteTokens: number;
  /** Visible output tokens: `x-demo-completion-tokens`, else the limit, at most 64. */
  outputTokens: number;
  /** Hidden reasoning tokens (`x-demo-reasoning-tokens`). */
  reasoningTokens: number;
  /** The visible output in at most five pieces that concatenate to the whole text. */
  pieces: string[];
  chunkDelayMs: number;
  /** `x-demo-end-early`: a stream ends cleanly after its first piece, before any usage is reported. */
  endsEarly: boolean;
}

/** A limit field's value, checked: a whole number ≥ 0, or the default when absent. */
export function limitOf(value: unknown, name: string): number {
  if (value === undefined || value === null) return DEFAULT_COMPLETION_TOKENS;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) throw new InvalidRequest(`${name} must be a whole number ≥ 0`);
  return value;
}

export function demoAnswer(req: IncomingMessage, asked: { model: string; promptChars: number; limit: number }): DemoAnswer {
  const promptTokens = Math.max(1, Math.ceil(asked.promptChars / 4));
  const outputTokens = intHeader(req, 'x-demo-completion-tokens', 0, 100_000) ?? Math.min(asked.limit, DEFAULT_COMPLETION_TOKENS);
  const served = req.headers['x-demo-served-model'];
  const words = Array.from({ length: Math.ceil(outputTokens / WORDS.length) }, () => WORDS)
    .flat()
    .slice(0, outputTokens);
  const count = Math.min(MAX_CONTENT_CHUNKS, words.length);
  const pieces = Array.from({ length: count }, (_, i) => {
    const text = words.slice(Math.floor((i * words.length) / count), Math.floor(((i + 1) * words.length) / count)).join(' ');
    return i === count - 1 ? text : `${text} `;
  });
  return {
    model: typeof served === 'string' && served !== '' ? served : asked.model,
    promptTokens,
    cachedTokens: Math.min(promptTokens, intHeader(req, 'x-demo-cached-tokens', 0, 100_000) ?? 0),
    cacheWriteTokens: intHeader(req, 'x-demo-cache-write-tokens', 0, 100_000) ?? 0,
    outputTokens,
    reasoningTokens: intHeader(req, 'x-demo-reasoning-tokens', 0, 100_000) ?? 0,
    pieces,
    chunkDelayMs: intHeader(req, 'x-demo-chunk-delay-ms', 0, MAX_WAIT_MS) ?? 10,
    endsEarly: req.headers['x-demo-end-early'] === 'true',
  };
}

/** Message content is a string or a list of `{type, text}` parts (OpenAI, Anthropic) or `{text}` parts (Gemini). */
export function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content.map((part) => (isRecord(part) && typeof part.text === 'string' ? part.text : '')).join('');
}

/** Starts an event stream; `send` writes one event (`event:` line when named) unless the client has gone. */
export function eventStream(res: ServerResponse, signal: AbortSignal): (data: object, event?: string) => void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  res.flushHeaders();
  return (data, event) => {
    signal.throwIfAborted();
    res.write(`${event ? `event: ${event}\n` : ''}data: ${JSON.stringify(data)}\n\n`);
  };
}

/**
 * Calls `each` for every piece of the answer, `chunkDelayMs` apart; `afterFirst` runs once
 * the first has been sent. False when the answer ends early (the caller then ends its
 * stream without the rest, its usage included).
 */
export async function eachPiece(answer: DemoAnswer, signal: AbortSignal, each: (piece: string, last: boolean) => void, afterFirst?: () => Promise<void>): Promise<boolean> {
  for (let i = 0; i < answer.pieces.length; i++) {
    if (i > 0 && answer.endsEarly) return false;
    if (i > 0) await sleep(answer.chunkDelayMs, undefined, { signal });
    each(answer.pieces[i]!, i === answer.pieces.length - 1);
    if (i === 0 && afterFirst) await afterFirst();
  }
  return true;
}
