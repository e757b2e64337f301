import type { UsageReader } from './provider-format.js';
import { tokenCount, type TokenCounts } from './token-usage.js';
import { USAGE_KEY, type UsageMarker } from './usage-marker.js';

/** What one response message says: the answering model and the usage counts it carries, by the provider's field names. */
export interface UsageFields {
  model?: unknown;
  counts?: Record<string, unknown>;
  /** The message ends the response's usage (Anthropic's `message_delta`, Gemini's chunk with a finish reason). */
  final: boolean;
}

/**
 * A reader that keeps, per count field, the last value any message reported. Providers
 * report cumulative counts (Anthropic's `message_delta`, every Gemini chunk), or the whole
 * usage once: taking the last value is right for both, and summing would be wrong for both.
 * Usage counts only once a final message has been read: a stream broken off before it
 * reported only part of the work, and keeps its reservation instead.
 */
export function lastValueReader(
  pick: (message: unknown) => UsageFields | undefined,
  normalise: (counts: Readonly<Record<string, number>>) => TokenCounts,
  marker: UsageMarker = USAGE_KEY,
): UsageReader {
  const counts: Record<string, number> = {};
  let model: string | undefined;
  let final = false;
  return {
    read(message, whole) {
      const fields = pick(message);
      if (!fields) return;
      if (typeof fields.model === 'string' && fields.model !== '') model = fields.model;
      for (const name in fields.counts) {
        const n = tokenCount(fields.counts[name]);
        if (n !== undefined) counts[name] = n;
      }
      final ||= whole || fields.final;
    },
    marker,
    usage() {
      return final ? { model, tokens: normalise(counts) } : undefined;
    },
  };
}
