import type { Usage, UsageEntry } from './types.js';
import { watchUsage, type UsageWatch } from './usage/watch-usage.js';

/** What each status says under its bar: the gateway's own status, never a threshold of the page's. */
const NOTICES: Record<UsageEntry['status'], string | null> = {
  ok: null,
  warning: 'over 80 % used',
  critical: 'over 95 % used: almost out',
  exceeded: 'limit reached',
};

const STYLE = `
:host { display: block; font: 14px/1.4 system-ui, sans-serif; }
.metric { margin: 0 0 .75em; }
.label { display: flex; justify-content: space-between; gap: 1em; }
.track { height: .5em; border-radius: .25em; background: #e5e7eb; overflow: hidden; }
.bar { height: 100%; width: 0; background: #16a34a; transition: width .3s; }
[data-status="warning"] .bar { background: #d97706; }
[data-status="critical"] .bar { background: #ea580c; }
[data-status="exceeded"] .bar { background: #dc2626; }
.notice { font-size: .85em; color: #b45309; }
[data-status="exceeded"] .notice { color: #dc2626; }
`;

/**
 * `<quotagate-usage gateway="https://quota.example.com" token-url="/usage-token">`: one bar
 * per metric with its used/limit and the gateway's 80/95/100 % notices, updated live from
 * GET /v1/usage/stream. `token-url` is the app's own endpoint that answers `{token}` (a usage
 * token its backend minted); or set the `getToken` property. `metrics="a,b"` shows only those.
 * Parts for styling: metric, label, track, bar, notice. Dispatches `usage` events (detail: the snapshot).
 */
export class QuotagateUsageElement extends HTMLElement {
  static readonly observedAttributes = ['gateway', 'token-url', 'metrics'];
  /** How the element gets a usage token; by default it GETs `token-url` (same-origin cookies included). */
  getToken: (() => Promise<string>) | null = null;
  /** The latest snapshot, or null before the first. */
  usage: Usage | null = null;
  private watch: UsageWatch | null = null;
  private readonly root: ShadowRoot;

  constructor() {
    super();
    this.root = this.attachShadow({ mode: 'open' });
    const style = document.createElement('style');
    style.textContent = STYLE;
    this.root.append(style, document.createElement('div'));
  }

  connectedCallback(): void {
    this.restart();
  }

  disconnectedCallback(): void {
    this.watch?.stop();
    this.watch = null;
  }

  attributeChangedCallback(): void {
    if (this.isConnected) this.restart();
  }

  private restart(): void {
    this.watch?.stop();
    this.watch = null;
    const gateway = this.getAttribute('gateway');
    const tokenUrl = this.getAttribute('token-url');
    if (!gateway || (!tokenUrl && !this.getToken)) return;
    this.watch = watchUsage({
      baseUrl: gateway,
      getToken: this.getToken ?? (() => fetchToken(tokenUrl!)),
      onUsage: (usage) => {
        this.usage = usage;
        this.render(usage);
        this.dispatchEvent(new CustomEvent('usage', { detail: usage }));
      },
      onError: (err) => this.dispatchEvent(new CustomEvent('usage-error', { detail: err })),
    });
  }

  private render(usage: Usage): void {
    const only = this.getAttribute('metrics')
      ?.split(',')
      .map((m) => m.trim())
      .filter(Boolean);
    const list = document.createElement('div');
    for (const m of usage.metrics) {
      if (only && !only.includes(m.metric)) continue;
      list.append(metricRow(m));
    }
    this.root.lastElementChild!.replaceWith(list);
  }
}

async function fetchToken(url: string): Promise<string> {
  const response = await fetch(url, { credentials: 'same-origin', cache: 'no-store' });
  if (!response.ok) throw new Error(`${url} answered ${response.status}`);
  return ((await response.json()) as { token: string }).token;
}

function element(tag: string, part: string, text?: string): HTMLElement {
  const el = document.createElement(tag);
  el.className = part;
  el.setAttribute('part', part);
  if (text !== undefined) el.textContent = text;
  return el;
}

function metricRow(m: UsageEntry): HTMLElement {
  const row = element('div', 'metric');
  row.dataset.metric = m.metric;
  row.dataset.status = m.status;
  const label = element('div', 'label');
  label.append(element('span', 'name', m.metric), element('span', 'value', m.limit === null ? `${m.used} (unlimited)` : `${m.used} / ${m.limit}`));
  row.append(label);
  if (m.percent !== null) {
    const track = element('div', 'track');
    track.setAttribute('role', 'progressbar');
    track.setAttribute('aria-label', m.metric);
    track.setAttribute('aria-valuenow', String(m.percent));
    track.setAttribute('aria-valuemin', '0');
    track.setAttribute('aria-valuemax', '100');
    const bar = element('div', 'bar');
    bar.style.width = `${Math.min(100, m.percent)}%`;
    track.append(bar);
    row.append(track);
  }
  const notice = NOTICES[m.status];
  if (notice) row.append(element('div', 'notice', `${m.metric}: ${notice}`));
  return row;
}

if (!customElements.get('quotagate-usage')) customElements.define('quotagate-usage', QuotagateUsageElement);

declare global {
  interface HTMLElementTagNameMap {
    'quotagate-usage': QuotagateUsageElement;
  }
}
