import type { MeteredUsage } from './token-usage.js';
import type { UsageMarker } from './usage-marker.js';

/** What the gateway reads of a proxied request when its route speaks a provider's API. */
export interface ProviderRequest {
  /** The parsed JSON body (undefined when there is none). */
  json: unknown;
  /** The request path, without the query (Gemini names the model in it). */
  path: string;
}

/**
 * Folds a response's messages (the JSON body, or each SSE event's JSON in order) into the
 * usage the provider reported; `usage()` is undefined until a message carried usage (an
 * interrupted stream may never deliver it).
 */
export interface UsageReader {
  /** `whole`: the message is a complete response body (not a stream event), so its usage is final. */
  read(message: unknown, whole: boolean): void;
  /**
   * Tells the stream events that may hold what `read` uses from those that cannot (content
   * deltas), in their text or bytes, sparing the parse of most events. A false "no" would
   * keep the reservation instead of charging the usage, never charge less.
   */
  readonly marker: UsageMarker;
  usage(): MeteredUsage | undefined;
}

/** One provider API: where its requests bound the output and name the model, and how its responses report usage. */
export interface ProviderFormat {
  /** The request field that caps output tokens, as the README names it (`body.max_tokens`). */
  readonly limitField: string;
  /** The value of the output limit field (unvalidated), undefined when absent. */
  outputLimit(request: ProviderRequest): unknown;
  /** The model the request asks for, if it names one. */
  requestedModel(request: ProviderRequest): string | undefined;
  reader(): UsageReader;
}
