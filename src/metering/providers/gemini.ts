import type { ProviderFormat } from '../provider-format.js';
import { lastValueReader } from '../usage-fields.js';
import { UsageMarker } from '../usage-marker.js';
import { isRecord, rest } from '../token-usage.js';

/** Every chunk with usage holds it. */
const USAGE_METADATA = new UsageMarker('usageMetadata');

/** `/v1beta/models/gemini-2.5-flash:generateContent` → `gemini-2.5-flash`. */
const MODEL_IN_PATH = /\/models\/([^/:]+):[A-Za-z]+$/;

/**
 * Google Gemini (`:generateContent`, and `:streamGenerateContent?alt=sse` whose every chunk
 * repeats `usageMetadata` so far: the last counts). `promptTokenCount` includes
 * `cachedContentTokenCount`; `thoughtsTokenCount` (thinking) is reported beside
 * `candidatesTokenCount` and is output; `toolUsePromptTokenCount` is input. The model is named
 * in the path, and the answering one in `modelVersion`.
 */
export const gemini: ProviderFormat = {
  limitField: 'body.generationConfig.maxOutputTokens',
  outputLimit: ({ json }) => (isRecord(json) && isRecord(json.generationConfig) ? json.generationConfig.maxOutputTokens : undefined),
  requestedModel: ({ path }) => MODEL_IN_PATH.exec(path)?.[1],
  reader: () =>
    lastValueReader(
      (message) => {
        if (!isRecord(message) || !isRecord(message.usageMetadata)) return undefined;
        const usage = message.usageMetadata;
        return {
          model: message.modelVersion,
          counts: {
            prompt: usage.promptTokenCount,
            cached: usage.cachedContentTokenCount,
            tool: usage.toolUsePromptTokenCount,
            candidates: usage.candidatesTokenCount,
            thoughts: usage.thoughtsTokenCount,
          },
          // A chunk before the last reports the work so far; the last has a finish reason (or the prompt was blocked).
          final: (Array.isArray(message.candidates) && message.candidates.some((c) => isRecord(c) && typeof c.finishReason === 'string')) || isRecord(message.promptFeedback),
        };
      },
      (c) => {
        const cached = c.cached ?? 0;
        return { input: rest(c.prompt ?? 0, cached) + (c.tool ?? 0), cached_input: cached, cache_write: 0, output: c.candidates ?? 0, reasoning: c.thoughts ?? 0 };
      },
      USAGE_METADATA,
    ),
};
