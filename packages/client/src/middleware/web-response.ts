import { isStorable, rateLimitHeaders, type QuotaRun } from './quota-run.js';

/** The body of `response` as text if it is text and at most `max` bytes, else null; the response itself stays unread. */
async function storableText(response: Response, max: number): Promise<string | null> {
  if (max <= 0 || response.body === null || !isStorable(response.headers.get('content-type'))) return null;
  const reader = response.clone().body!.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel();
      return null;
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return new TextDecoder().decode(bytes);
}

/**
 * Ends a run with the handler's Fetch API response (Hono, Next.js): refunded on 5xx, else
 * settled (keeping a small text body for replays); answers the response with the decision's
 * RateLimit fields added.
 */
export async function endWithResponse(run: QuotaRun, response: Response): Promise<Response> {
  if (response.status >= 500) await run.failed();
  else {
    const text = await storableText(response, run.maxStoredBytes);
    await run.succeeded({ status: response.status, headers: [...response.headers], text });
  }
  const fields = rateLimitHeaders(run.rateLimit);
  if (fields.length === 0) return response;
  // A response's headers may be immutable (e.g. from fetch()): copy it when they are.
  let answer = response;
  try {
    for (const [name, value] of fields) answer.headers.set(name, value);
  } catch {
    answer = new Response(response.body, response);
    for (const [name, value] of fields) answer.headers.set(name, value);
  }
  return answer;
}
