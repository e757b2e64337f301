import { useEffect, useRef, useState } from 'react';
import type { Usage } from './types.js';
import { watchUsage } from './usage/watch-usage.js';

export type { Usage, UsageEntry, UsageStatus } from './types.js';

export interface UseUsageOptions {
  /** The gateway (it must list this page's origin in QG_CORS_ORIGINS). */
  baseUrl: string;
  /** Gets a usage token from your backend (which mints it with `client.mintUsageToken()`). */
  getToken: () => Promise<string>;
}

/**
 * The subject's usage as the gateway counts it, live: `usage` is null until the first
 * snapshot arrives, then every change made anywhere re-renders. `error` is the last
 * connection failure, null again once a snapshot arrives (it reconnects by itself):
 * `isQuotagateError(error, 'unauthorized')` when the gateway refused the token. Each metric
 * has the gateway's own `percent` and `status` (`ok`, `warning` ≥ 80 %, `critical` ≥ 95 %,
 * `exceeded` ≥ 100 %).
 *
 *   const { usage } = useUsage({ baseUrl, getToken: () => fetch('/usage-token').then((r) => r.json()).then((t) => t.token) });
 */
export function useUsage(options: UseUsageOptions): { usage: Usage | null; error: unknown } {
  const [usage, setUsage] = useState<Usage | null>(null);
  const [error, setError] = useState<unknown>(null);
  // The latest getToken without reconnecting when the caller passes a new function each render.
  const getToken = useRef(options.getToken);
  getToken.current = options.getToken;
  useEffect(() => {
    const watch = watchUsage({
      baseUrl: options.baseUrl,
      getToken: () => getToken.current(),
      onUsage: (next) => {
        setUsage(next);
        setError(null);
      },
      onError: setError,
    });
    return () => watch.stop();
  }, [options.baseUrl]);
  return { usage, error };
}
