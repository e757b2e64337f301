import type { ProviderFormat } from '../provider-format.js';
import { lastValueReader } from '../usage-fields.js';
import { isRecord } from '../token-usage.js';

/**
 * Anthropic Messages (`POST /v1/messages`). The JSON body has `usage` with `input_tokens`
 * (cache reads and writes not included), `cache_read_input_tokens`,
 * `cache_creation_input_tokens` and `output_tokens` (thinking included). Streamed,
 * `message_start.message.usage` carries the input and `message_delta.usage` the output so
 * far — cumulative, so the last one counts and they are never added up.
 */
export const anthropic: ProviderFormat = {
  limitField: 'body.max_tokens',
  outputLimit: ({ json }) => (isRecord(json) ? json.max_tokens : undefined),
  requestedModel: ({ json }) => (isRecord(json) && typeof json.model === 'string' ? json.model : undefined),
  reader: () =>
    lastValueReader(
      (message) => {
        if (!isRecord(message)) return undefined;
        // message_start wraps the message; the JSON body and message_delta carry usage at the top.
        const holder = message.type === 'message_start' && isRecord(message.message) ? message.message : message;
        if (!isRecord(holder.usage)) return undefined;
        const usage = holder.usage;
        return {
          model: holder.model,
          counts: {
            input: usage.input_tokens,
            read: usage.cache_read_input_tokens,
            write: usage.cache_creation_input_tokens,
            output: usage.output_tokens,
          },
          // message_start's output is a placeholder; the body (type message) or a message_delta is the count.
          final: message.type !== 'message_start',
        };
      },
      (c) => ({ input: c.input ?? 0, cached_input: c.read ?? 0, cache_write: c.write ?? 0, output: c.output ?? 0, reasoning: 0 }),
    ),
};
