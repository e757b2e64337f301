import type { ProviderFormat } from '../provider-format.js';
import { lastValueReader } from '../usage-fields.js';
import { isRecord } from '../token-usage.js';
import { openaiTokens, openaiUsageFields } from './openai-usage.js';

/**
 * OpenAI Responses (`POST /v1/responses`). The JSON body is the response object with
 * `usage`; a stream's `response.completed` (or `response.incomplete`, `response.failed`)
 * event carries it as `response.usage` (earlier events have `usage: null`).
 * `input_tokens` includes the cached tokens and `output_tokens` the reasoning tokens.
 */
export const openaiResponses: ProviderFormat = {
  limitField: 'body.max_output_tokens',
  outputLimit: ({ json }) => (isRecord(json) ? json.max_output_tokens : undefined),
  requestedModel: ({ json }) => (isRecord(json) && typeof json.model === 'string' ? json.model : undefined),
  reader: () =>
    lastValueReader((message) => {
      const response = isRecord(message) && isRecord(message.response) ? message.response : message;
      if (!isRecord(response) || !isRecord(response.usage)) return undefined;
      return openaiUsageFields(response.model, response.usage, {
        input: 'input_tokens',
        inputDetails: 'input_tokens_details',
        output: 'output_tokens',
        outputDetails: 'output_tokens_details',
      });
    }, openaiTokens),
};
