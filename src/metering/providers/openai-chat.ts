import type { ProviderFormat } from '../provider-format.js';
import { lastValueReader } from '../usage-fields.js';
import { isRecord } from '../token-usage.js';
import { openaiTokens, openaiUsageFields } from './openai-usage.js';

/**
 * OpenAI Chat Completions (`POST /v1/chat/completions`). The JSON body has `usage`; a stream
 * has it only with `stream_options.include_usage`, in a last chunk whose `choices` is empty
 * (the other chunks then carry `usage: null`). `prompt_tokens` includes the cached tokens and
 * `completion_tokens` the reasoning tokens.
 */
export const openaiChat: ProviderFormat = {
  limitField: 'body.max_completion_tokens | body.max_tokens',
  outputLimit: ({ json }) => (isRecord(json) ? (json.max_completion_tokens ?? json.max_tokens) : undefined),
  requestedModel: ({ json }) => (isRecord(json) && typeof json.model === 'string' ? json.model : undefined),
  reader: () =>
    lastValueReader(
      (message) =>
        isRecord(message) && isRecord(message.usage)
          ? openaiUsageFields(message.model, message.usage, {
              input: 'prompt_tokens',
              inputDetails: 'prompt_tokens_details',
              output: 'completion_tokens',
              outputDetails: 'completion_tokens_details',
            })
          : undefined,
      openaiTokens,
    ),
};
