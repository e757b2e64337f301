import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { contentText, demoAnswer, eachPiece, eventStream, limitOf, type DemoAnswer } from './demo-answer.js';
import { InvalidRequest, isRecord, parseJson, sendJson } from './demo-http.js';

/**
 * The demo upstream in the shapes of OpenAI Responses, Anthropic Messages and Google Gemini,
 * JSON and streamed, with usage reported in each provider's fields, as their API references
 * show them. The official clients are pointed at the gateway in front of it.
 */

function requestJson(body: string): Record<string, unknown> {
  const json = parseJson(body);
  if (!isRecord(json)) throw new InvalidRequest('the body must be a JSON object');
  return json;
}

const messagesText = (messages: unknown): number =>
  Array.isArray(messages) ? messages.reduce<number>((n, m) => n + contentText(isRecord(m) ? m.content : undefined).length, 0) : 0;

/** OpenAI Responses: `input_tokens` includes the cached ones, `output_tokens` the reasoning ones. */
export async function responsesApi(req: IncomingMessage, res: ServerResponse, body: string, signal: AbortSignal): Promise<void> {
  const json = requestJson(body);
  const promptChars = typeof json.input === 'string' ? json.input.length : messagesText(json.input);
  const answer = demoAnswer(req, { model: typeof json.model === 'string' ? json.model : 'demo-model', promptChars, limit: limitOf(json.max_output_tokens, 'max_output_tokens') });
  const output = answer.outputTokens + answer.reasoningTokens;
  const id = `resp_${randomUUID().replaceAll('-', '')}`;
  const messageId = `msg_${randomUUID().replaceAll('-', '')}`;
  const created = Math.floor(Date.now() / 1000);
  const text = answer.pieces.join('');
  const message = (status: string, content: unknown[]) => ({ id: messageId, type: 'message', status, role: 'assistant', content });
  const response = (status: string, done: boolean) => ({
    id,
    object: 'response',
    created_at: created,
    status,
    error: null,
    incomplete_details: null,
    model: answer.model,
    output: done ? [message('completed', [{ type: 'output_text', text, annotations: [] }])] : [],
    usage: done
      ? {
          input_tokens: answer.promptTokens,
          input_tokens_details: { cached_tokens: answer.cachedTokens },
          output_tokens: output,
          output_tokens_details: { reasoning_tokens: answer.reasoningTokens },
          total_tokens: answer.promptTokens + output,
        }
      : null,
  });
  if (json.stream !== true) return sendJson(res, 200, response('completed', true));

  const send = eventStream(res, signal);
  let sequence = 0;
  const event = (type: string, data: object) => send({ type, sequence_number: sequence++, ...data }, type);
  const at = { item_id: messageId, output_index: 0, content_index: 0 };
  event('response.created', { response: response('in_progress', false) });
  event('response.output_item.added', { output_index: 0, item: message('in_progress', []) });
  event('response.content_part.added', { ...at, part: { type: 'output_text', text: '', annotations: [] } });
  if (!(await eachPiece(answer, signal, (delta) => event('response.output_text.delta', { ...at, delta })))) return void res.end();
  event('response.output_text.done', { ...at, text });
  event('response.completed', { response: response('completed', true) });
  res.end();
}

/** Anthropic Messages: `input_tokens` excludes cache reads and writes; streamed, message_delta carries the output so far. */
export async function anthropicMessages(req: IncomingMessage, res: ServerResponse, body: string, signal: AbortSignal): Promise<void> {
  const json = requestJson(body);
  if (!Array.isArray(json.messages)) throw new InvalidRequest('messages must be an array');
  const system = typeof json.system === 'string' ? json.system.length : 0;
  const answer = demoAnswer(req, {
    model: typeof json.model === 'string' ? json.model : 'demo-model',
    promptChars: messagesText(json.messages) + system,
    limit: limitOf(json.max_tokens, 'max_tokens'),
  });
  const output = answer.outputTokens + answer.reasoningTokens;
  const usage = (outputTokens: number) => ({
    input_tokens: answer.promptTokens - answer.cachedTokens,
    cache_creation_input_tokens: answer.cacheWriteTokens,
    cache_read_input_tokens: answer.cachedTokens,
    output_tokens: outputTokens,
  });
  const message = { id: `msg_${randomUUID().replaceAll('-', '')}`, type: 'message', role: 'assistant', model: answer.model, stop_sequence: null };
  if (json.stream !== true) {
    return sendJson(res, 200, { ...message, content: [{ type: 'text', text: answer.pieces.join('') }], stop_reason: 'end_turn', usage: usage(output) });
  }

  const send = eventStream(res, signal);
  const event = (type: string, data: object = {}) => send({ type, ...data }, type);
  event('message_start', { message: { ...message, content: [], stop_reason: null, usage: usage(1) } });
  event('content_block_start', { index: 0, content_block: { type: 'text', text: '' } });
  event('ping');
  if (!(await eachPiece(answer, signal, (text) => event('content_block_delta', { index: 0, delta: { type: 'text_delta', text } })))) return void res.end();
  event('content_block_stop', { index: 0 });
  event('message_delta', { delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: output } });
  event('message_stop');
  res.end();
}

/** Gemini: `promptTokenCount` includes the cached content; `thoughtsTokenCount` is beside `candidatesTokenCount`; a stream repeats the usage so far in every chunk. */
export async function geminiGenerate(req: IncomingMessage, res: ServerResponse, body: string, pathname: string, signal: AbortSignal): Promise<void> {
  const json = requestJson(body);
  const [, model = 'demo-model', method] = /\/models\/([^/:]+):(\w+)$/.exec(pathname) ?? [];
  const contents = Array.isArray(json.contents) ? json.contents : [];
  const promptChars = contents.reduce<number>((n, c) => n + contentText(isRecord(c) ? c.parts : undefined).length, 0);
  const config = isRecord(json.generationConfig) ? json.generationConfig : {};
  const answer = demoAnswer(req, { model, promptChars, limit: limitOf(config.maxOutputTokens, 'generationConfig.maxOutputTokens') });
  const responseId = randomUUID();
  const chunk = (text: string, candidates: number, last: boolean) => ({
    candidates: [{ content: { parts: [{ text }], role: 'model' }, index: 0, ...(last && { finishReason: 'STOP' }) }],
    usageMetadata: usageMetadata(answer, candidates, last),
    modelVersion: answer.model,
    responseId,
  });
  if (method !== 'streamGenerateContent') return sendJson(res, 200, chunk(answer.pieces.join(''), answer.outputTokens, true));

  const send = eventStream(res, signal);
  let sent = 0;
  const perPiece = answer.pieces.length > 0 ? Math.floor(answer.outputTokens / answer.pieces.length) : 0;
  const whole = await eachPiece(answer, signal, (text, last) => {
    sent = last ? answer.outputTokens : sent + perPiece;
    send(chunk(text, sent, last));
  });
  if (!whole) return void res.end();
  if (answer.pieces.length === 0) send(chunk('', 0, true));
  res.end();
}

function usageMetadata(answer: DemoAnswer, candidates: number, last: boolean) {
  const thoughts = last ? answer.reasoningTokens : 0;
  return {
    promptTokenCount: answer.promptTokens,
    candidatesTokenCount: candidates,
    totalTokenCount: answer.promptTokens + candidates + thoughts,
    ...(answer.cachedTokens > 0 && { cachedContentTokenCount: answer.cachedTokens }),
    ...(thoughts > 0 && { thoughtsTokenCount: thoughts }),
  };
}
