import type { ProviderFormat } from './provider-format.js';
import { anthropic } from './providers/anthropic.js';
import { gemini } from './providers/gemini.js';
import { openaiChat } from './providers/openai-chat.js';
import { openaiResponses } from './providers/openai-responses.js';

/** The provider APIs a route can speak (`provider:` in the policy), by name. */
export const PROVIDERS = {
  openai_chat: openaiChat,
  openai_responses: openaiResponses,
  anthropic,
  gemini,
} as const satisfies Record<string, ProviderFormat>;

export type ProviderName = keyof typeof PROVIDERS;
export const PROVIDER_NAMES = Object.keys(PROVIDERS) as [ProviderName, ...ProviderName[]];
