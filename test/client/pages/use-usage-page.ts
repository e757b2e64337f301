/**
 * A React page as an app would write it with `useUsage`: one bar per metric with the
 * gateway's own status and notice, and the hook's error (its code, e.g. `unauthorized` when
 * the gateway refuses the token); every error's code is listed too, for the test to read.
 * Bundled by esbuild for test/client/use-usage.test.ts; `?gateway=` is the gateway's URL and
 * `?token=` picks which token the page's backend hands out (valid, expired, foreign).
 */
import { isQuotagateError } from '@quotagate/client';
import { useUsage, type UsageEntry } from '@quotagate/client/react';
import { createElement as h, StrictMode, useEffect, useState } from 'react';
import { createRoot } from 'react-dom/client';

// The project's type check has Node's lib, not the DOM's (a DOM lib reference would retype the
// whole program): these are the only browser globals this page uses.
declare const document: { getElementById(id: string): Element | null };
declare const location: { search: string };

const params = new URLSearchParams(location.search);
const gateway = params.get('gateway') ?? '';
const tokenKind = params.get('token') ?? 'valid';

async function getToken(): Promise<string> {
  const response = await fetch(`/usage-token?kind=${encodeURIComponent(tokenKind)}`);
  return ((await response.json()) as { token: string }).token;
}

function Metric({ entry }: { entry: UsageEntry }) {
  return h(
    'li',
    { 'data-metric': entry.metric, 'data-status': entry.status },
    h('span', { className: 'value' }, entry.limit === null ? `${entry.used}` : `${entry.used} / ${entry.limit}`),
    entry.percent === null ? null : h('div', { className: 'bar', style: { width: `${Math.min(100, entry.percent)}%` } }),
    entry.status === 'ok' ? null : h('p', { className: 'notice' }, `${entry.metric}: ${entry.status}`),
  );
}

const codeOf = (error: unknown) => (isQuotagateError(error) ? error.code : 'not a QuotagateError');

function Usage() {
  const { usage, error } = useUsage({ baseUrl: gateway, getToken });
  const [errorLog, setErrorLog] = useState<string[]>([]);
  useEffect(() => {
    if (error !== null) setErrorLog((log) => [...log, codeOf(error)]);
  }, [error]);
  return h(
    'main',
    null,
    error === null ? null : h('p', { id: 'error', 'data-code': codeOf(error) }, String(error)),
    h(
      'ol',
      { id: 'error-log' },
      errorLog.map((code, i) => h('li', { key: i }, code)),
    ),
    usage === null
      ? h('p', { id: 'loading' }, 'loading')
      : h(
          'ul',
          { id: 'metrics' },
          usage.metrics.map((entry) => h(Metric, { key: entry.metric, entry })),
        ),
  );
}

// StrictMode mounts the effect twice: the first stream must be closed, not leaked.
createRoot(document.getElementById('root')!).render(h(StrictMode, null, h(Usage)));
