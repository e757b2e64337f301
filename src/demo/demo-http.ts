import type { IncomingMessage, ServerResponse } from 'node:http';

/** HTTP helpers of the demo upstream's handlers. */

/** A request the demo cannot honour (bad body or control header): answered with 400. */
export class InvalidRequest extends Error {}

export function parseJson(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch {
    throw new InvalidRequest('request body is not valid JSON');
  }
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A whole-number control header, or undefined when absent; out of range is a 400. */
export function intHeader(req: IncomingMessage, name: string, min: number, max: number): number | undefined {
  const raw = req.headers[name];
  if (raw === undefined) return undefined;
  const value = typeof raw === 'string' && /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!(value >= min && value <= max)) throw new InvalidRequest(`${name} must be a whole number from ${min} to ${max}`);
  return value;
}

export async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export function sendJson(res: ServerResponse, status: number, body?: unknown): void {
  if (body === undefined) res.writeHead(status).end();
  else res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

export function sendError(res: ServerResponse, status: number, message: string, type: string): void {
  sendJson(res, status, { error: { message, type } });
}
