import type { UsageFields } from '../usage-fields.js';
import { isRecord, rest, type TokenCounts } from '../token-usage.js';

/** Field names of one OpenAI API's usage object (Chat Completions and Responses name them differently). */
interface OpenAiUsageNames {
  input: string;
  inputDetails: string;
  output: string;
  outputDetails: string;
}

/** An OpenAI usage object: the input includes its `cached_tokens` detail and the output its `reasoning_tokens` detail. */
export function openaiUsageFields(model: unknown, usage: Record<string, unknown>, names: OpenAiUsageNames): UsageFields {
  const input = isRecord(usage[names.inputDetails]) ? (usage[names.inputDetails] as Record<string, unknown>) : {};
  const output = isRecord(usage[names.outputDetails]) ? (usage[names.outputDetails] as Record<string, unknown>) : {};
  return { model, counts: { input: usage[names.input], cached: input.cached_tokens, output: usage[names.output], reasoning: output.reasoning_tokens }, final: true };
}

export function openaiTokens(c: Readonly<Record<string, number>>): TokenCounts {
  const cached = c.cached ?? 0;
  const reasoning = c.reasoning ?? 0;
  return { input: rest(c.input ?? 0, cached), cached_input: cached, cache_write: 0, output: rest(c.output ?? 0, reasoning), reasoning };
}
