import { randomUUID } from 'node:crypto';
import { EventEmitter, once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

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

/** A request the demo cannot honour (bad body or control header): answered with 400. */
class InvalidRequest extends Error {}

const WORDS = ['lorem', 'ipsum', 'dolor', 'sit', 'amet', 'consectetur', 'adipiscing', 'elit'];
const DEFAULT_COMPLETION_TOKENS = 64;
const MAX_CONTENT_CHUNKS = 5;
const MAX_WAIT_MS = 3_600_000;

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
        return sendError(res, 404, 'not found', 'not_found');
    }
  }

  async function chatCompletions(req: IncomingMessage, res: ServerResponse, body: string, signal: AbortSignal): Promise<void> {
    const chat = parseChatRequest(body);
    const completionTokens = intHeader(req, 'x-demo-completion-tokens', 0, 100_000) ?? Math.min(chat.maxTokens, DEFAULT_COMPLETION_TOKENS);
    const chunkDelayMs = intHeader(req, 'x-demo-chunk-delay-ms', 0, MAX_WAIT_MS) ?? 10;
    const gate = req.headers['x-demo-gate'];
    const usage = {
      prompt_tokens: chat.promptTokens,
      completion_tokens: completionTokens,
      total_tokens: chat.promptTokens + completionTokens,
    };
    const words = Array.from({ length: Math.ceil(completionTokens / WORDS.length) }, () => WORDS)
      .flat()
      .slice(0, completionTokens);
    const common = { id: `chatcmpl-${randomUUID()}`, created: Math.floor(Date.now() / 1000), model: chat.model };

    if (!chat.stream) {
      const message = { role: 'assistant', content: words.join(' ') };
      return sendJson(res, 200, {
        ...common,
        object: 'chat.completion',
        choices: [{ index: 0, message, finish_reason: 'stop' }],
        usage,
      });
    }

    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    res.flushHeaders();
    const send = (data: object): void => {
      signal.throwIfAborted();
      res.write(`data: ${JSON.stringify(data)}\n\n`);
    };
    const chunk = (choices: unknown[], extra: object = {}) => ({ ...common, object: 'chat.completion.chunk', choices, ...extra });

    // The words split into at most MAX_CONTENT_CHUNKS pieces that concatenate to the
    // non-streamed content.
    const pieces = Math.min(MAX_CONTENT_CHUNKS, words.length);
    for (let i = 0; i < pieces; i++) {
      if (i > 0) await sleep(chunkDelayMs, undefined, { signal });
      const last = i === pieces - 1;
      const content = words.slice(Math.floor((i * words.length) / pieces), Math.floor(((i + 1) * words.length) / pieces)).join(' ');
      send(chunk([{ index: 0, delta: { content: last ? content : `${content} ` }, finish_reason: last ? 'stop' : null }]));
      if (i === 0 && typeof gate === 'string' && !openedGates.has(gate)) await once(gates, `open:${gate}`, { signal });
    }
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
  const maxTokens = json.max_tokens ?? DEFAULT_COMPLETION_TOKENS;
  if (typeof maxTokens !== 'number' || !Number.isInteger(maxTokens) || maxTokens < 0) {
    throw new InvalidRequest('max_tokens must be a whole number ≥ 0');
  }
  const chars = json.messages.reduce<number>((sum, m) => sum + contentText(isRecord(m) ? m.content : undefined).length, 0);
  return {
    model: typeof json.model === 'string' ? json.model : 'demo-model',
    maxTokens,
    promptTokens: Math.max(1, Math.ceil(chars / 4)),
    stream: json.stream === true,
    includeUsage: isRecord(json.stream_options) && json.stream_options.include_usage === true,
  };
}

/** Message content is a string or, in the newer OpenAI shape, a list of `{type, text}` parts. */
function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content.map((part) => (isRecord(part) && typeof part.text === 'string' ? part.text : '')).join('');
}

function parseJson(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch {
    throw new InvalidRequest('request body is not valid JSON');
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A whole-number control header, or undefined when absent; out of range is a 400. */
function intHeader(req: IncomingMessage, name: string, min: number, max: number): number | undefined {
  const raw = req.headers[name];
  if (raw === undefined) return undefined;
  const value = typeof raw === 'string' && /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!(value >= min && value <= max)) throw new InvalidRequest(`${name} must be a whole number from ${min} to ${max}`);
  return value;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function sendJson(res: ServerResponse, status: number, body?: unknown): void {
  if (body === undefined) res.writeHead(status).end();
  else res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

function sendError(res: ServerResponse, status: number, message: string, type: string): void {
  sendJson(res, status, { error: { message, type } });
}
