import { randomUUID } from 'node:crypto';
import { EventEmitter, once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { contentText, demoAnswer, eachPiece, eventStream, limitOf, MAX_WAIT_MS } from './demo-answer.js';
import { intHeader, InvalidRequest, isRecord, parseJson, readBody, sendError, sendJson } from './demo-http.js';
import { anthropicMessages, geminiGenerate, responsesApi } from './provider-apis.js';

/**
 * The demo upstream: a small mock API (OpenAI-style chat completions, exports, projects)
 * that the README quickstart and the tests proxy to. Request headers (`x-demo-*`) let a
 * caller script failures, delays, reported usage and the pace of a stream.
 */

export interface RecordedRequest {
  method: string;
  /** Path and query, as received. */
  path: string;
  /** Lower-cased names, as node gives them. */
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export interface DemoUpstream {
  readonly url: string;
  readonly port: number;
  /** Every request received, in arrival order. */
  readonly requests: RecordedRequest[];
  /** Lets streams waiting on `x-demo-gate: <name>` continue; opening before they arrive works too. */
  openGate(name: string): void;
  /** Closes the server and ends open connections, pending delays included. Idempotent. */
  close(): Promise<void>;
}

interface Project {
  id: string;
  object: 'project';
  name: string;
}

export async function startDemoUpstream(options: { host?: string; port?: number } = {}): Promise<DemoUpstream> {
  const requests: RecordedRequest[] = [];
  const projects = new Map<string, Project>();
  const openedGates = new Set<string>();
  const gates = new EventEmitter().setMaxListeners(0);

  const server = createServer((req, res) => {
    // The response closes when it is done, when the client goes away or when close() ends
    // the connection; aborting then stops pending waits so nothing more is written.
    const gone = new AbortController();
    res.once('close', () => gone.abort());
    handle(req, res, gone.signal).catch((err: unknown) => {
      if (res.headersSent || gone.signal.aborted) res.destroy();
      else if (err instanceof InvalidRequest) sendError(res, 400, err.message, 'invalid_request_error');
      else sendError(res, 500, String(err), 'server_error');
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse, signal: AbortSignal): Promise<void> {
    const body = await readBody(req);
    requests.push({ method: req.method ?? '', path: req.url ?? '', headers: { ...req.headers }, body });

    const delayMs = intHeader(req, 'x-demo-delay-ms', 0, MAX_WAIT_MS);
    const status = intHeader(req, 'x-demo-status', 200, 599);
    const usage = req.headers['x-demo-usage-header'];
    if (delayMs) await sleep(delayMs, undefined, { signal });
    // Echoed verbatim, not validated, so tests can also send the gateway a malformed value.
    if (typeof usage === 'string') res.setHeader('x-usage-tokens', usage);
    if (status !== undefined) return sendError(res, status, 'demo failure', 'demo');

    const pathname = (req.url ?? '/').replace(/\?.*/s, '');
    const id = pathname.slice('/v1/projects/'.length); // used by the /v1/projects/:id routes
    switch (`${req.method} ${pathname.replace(/^\/v1\/projects\/[^/]+$/, '/v1/projects/:id')}`) {
      case 'POST /v1/chat/completions':
        return chatCompletions(req, res, body, signal);
      case 'POST /v1/responses':
        return responsesApi(req, res, body, signal);
      case 'POST /v1/messages':
        return anthropicMessages(req, res, body, signal);
      case 'POST /v1/exports':
        return sendJson(res, 202, { id: `export_${randomUUID()}`, object: 'export', status: 'queued' });
      case 'POST /v1/projects': {
        const json = body.trim() === '' ? {} : parseJson(body);
        const name = isRecord(json) && typeof json.name === 'string' && json.name !== '' ? json.name : 'untitled';
        const project: Project = { id: `proj_${randomUUID()}`, object: 'project', name };
        projects.set(project.id, project);
        return sendJson(res, 201, project);
      }
      case 'GET /v1/projects':
        return sendJson(res, 200, { object: 'list', data: [...projects.values()] });
      case 'GET /v1/projects/:id': {
        const project = projects.get(id);
        return project ? sendJson(res, 200, project) : sendError(res, 404, 'not found', 'not_found');
      }
      case 'DELETE /v1/projects/:id':
        return projects.delete(id) ? sendJson(res, 204) : sendError(res, 404, 'not found', 'not_found');
      default:
        if (req.method === 'POST' && /^\/v1beta\/models\/[^/:]+:(generateContent|streamGenerateContent)$/.test(pathname)) return geminiGenerate(req, res, body, pathname, signal);
        return sendError(res, 404, 'not found', 'not_found');
    }
  }

  /** Waits at `x-demo-gate: <name>` until the test opens it. */
  const atGate = (req: IncomingMessage, signal: AbortSignal) => async () => {
    const gate = req.headers['x-demo-gate'];
    if (typeof gate === 'string' && !openedGates.has(gate)) await once(gates, `open:${gate}`, { signal });
  };

  async function chatCompletions(req: IncomingMessage, res: ServerResponse, body: string, signal: AbortSignal): Promise<void> {
    const chat = parseChatRequest(body);
    const answer = demoAnswer(req, chat);
    const completionTokens = answer.outputTokens + answer.reasoningTokens;
    // Token details only when the caller scripts them, so the plain shape stays what it was.
    const details = req.headers['x-demo-cached-tokens'] !== undefined || req.headers['x-demo-reasoning-tokens'] !== undefined;
    const usage = {
      prompt_tokens: answer.promptTokens,
      completion_tokens: completionTokens,
      total_tokens: answer.promptTokens + completionTokens,
      ...(details && { prompt_tokens_details: { cached_tokens: answer.cachedTokens }, completion_tokens_details: { reasoning_tokens: answer.reasoningTokens } }),
    };
    const common = { id: `chatcmpl-${randomUUID()}`, created: Math.floor(Date.now() / 1000), model: answer.model };

    if (!chat.stream) {
      const message = { role: 'assistant', content: answer.pieces.join('') };
      return sendJson(res, 200, {
        ...common,
        object: 'chat.completion',
        choices: [{ index: 0, message, finish_reason: 'stop' }],
        usage,
      });
    }

    const send = eventStream(res, signal);
    const chunk = (choices: unknown[], extra: object = {}) => ({ ...common, object: 'chat.completion.chunk', choices, ...extra });
    const whole = await eachPiece(answer, signal, (content, last) => send(chunk([{ index: 0, delta: { content }, finish_reason: last ? 'stop' : null }])), atGate(req, signal));
    if (!whole) return void res.end();
    if (chat.includeUsage) send(chunk([], { usage }));
    res.end('data: [DONE]\n\n');
  }

  server.listen(options.port ?? 0, options.host ?? '127.0.0.1');
  await once(server, 'listening');
  const { address, port } = server.address() as AddressInfo;
  let closing: Promise<void> | undefined;

  return {
    url: `http://${address.includes(':') ? `[${address}]` : address}:${port}`,
    port,
    requests,
    openGate(name) {
      openedGates.add(name);
      gates.emit(`open:${name}`);
    },
    close() {
      closing ??= new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

function parseChatRequest(body: string) {
  const json = parseJson(body);
  if (!isRecord(json) || !Array.isArray(json.messages)) throw new InvalidRequest('messages must be an array');
  const limit = limitOf(json.max_completion_tokens ?? json.max_tokens, 'max_tokens');
  const promptChars = json.messages.reduce<number>((sum, m) => sum + contentText(isRecord(m) ? m.content : undefined).length, 0);
  return {
    model: typeof json.model === 'string' ? json.model : 'demo-model',
    limit,
    promptChars,
    stream: json.stream === true,
    includeUsage: isRecord(json.stream_options) && json.stream_options.include_usage === true,
  };
}
