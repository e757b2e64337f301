/**
 * The dashboard's stylesheet and its one small script, served as files so that the pages'
 * Content-Security-Policy can forbid inline scripts. The script only wires the
 * server-rendered pages: it swaps in fragments the server renders, posts the reset form to
 * the JSON API, and lists the live feed (as text, never as HTML).
 */

export const STYLESHEET = `
:root{--ok:#2f9e44;--warning:#f0a202;--critical:#e8590c;--exceeded:#c92a2a;--muted:#6b7280;--line:#e5e7eb}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#111827;background:#f9fafb}
header{background:#111827;color:#fff;padding:.6rem 1.5rem;display:flex;gap:1.5rem;align-items:center}
header a{color:#fff;text-decoration:none}header .brand{font-weight:600}header form{margin-left:auto}
main{max-width:80rem;margin:0 auto;padding:1rem 1.5rem}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:1.8rem}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{border-bottom:1px solid var(--line);padding:.35rem .5rem;text-align:left;vertical-align:middle}
th{font-weight:600;color:var(--muted);font-size:.85em}
code{font-size:.9em}.muted{color:var(--muted)}.error{color:var(--exceeded)}
.usage{display:flex;align-items:center;gap:.5rem;min-width:12rem}
.usage__text{font-variant-numeric:tabular-nums;white-space:nowrap;font-size:.9em}
.bar{flex:1;min-width:6rem;height:.7rem;background:var(--line);border-radius:.35rem;overflow:hidden}
.bar__fill{display:block;height:100%;transition:width .3s}
.bar--ok .bar__fill{background:var(--ok)}.bar--warning .bar__fill{background:var(--warning)}
.bar--critical .bar__fill{background:var(--critical)}.bar--exceeded .bar__fill{background:var(--exceeded)}
.bar--unlimited{background:repeating-linear-gradient(45deg,var(--line),var(--line) 4px,#fff 4px,#fff 8px)}
.legend{display:flex;gap:1rem;font-size:.85em;color:var(--muted)}
.legend span::before{content:"";display:inline-block;width:.8em;height:.8em;border-radius:.2em;margin-right:.3em;vertical-align:-.1em;background:var(--c)}
.grid{display:grid;grid-template-columns:minmax(0,3fr) minmax(0,2fr);gap:1.5rem;align-items:start}
.wide{overflow-x:auto;margin-bottom:1.5rem}
.card{background:#fff;border:1px solid var(--line);border-radius:.4rem;padding:.8rem 1rem}
form.inline{display:flex;gap:.5rem;flex-wrap:wrap;align-items:center}
input[type=text],input[type=password]{padding:.35rem .5rem;border:1px solid #cbd5e1;border-radius:.3rem;font:inherit}
button{padding:.35rem .8rem;border:1px solid #1f2937;background:#1f2937;color:#fff;border-radius:.3rem;font:inherit;cursor:pointer}
button.danger{background:var(--exceeded);border-color:var(--exceeded)}
.login{max-width:24rem;margin:4rem auto}.login label{display:block;margin:.8rem 0 .2rem}.login input{width:100%}.login button{margin-top:1rem}
.feed{list-style:none;margin:0;padding:0;max-height:28rem;overflow:auto;font-size:.9em}
.feed li{border-bottom:1px solid var(--line);padding:.25rem 0;display:flex;gap:.5rem}
.feed .kind{font-weight:600;min-width:5.5rem}.feed .kind--denied{color:var(--exceeded)}.feed .kind--reset{color:#1c7ed6}
.feed-state{font-size:.8em;color:var(--muted)}.feed-state[data-state=live]{color:var(--ok)}
`;

export const SCRIPT = `
'use strict';
const csrf = document.querySelector('meta[name="qg-csrf"]')?.content;
const loginPage = '/admin/ui/login';

async function api(url, init) {
  const response = await fetch(url, { credentials: 'same-origin', ...init });
  if (response.status === 401) { location.assign(loginPage); throw new Error('logged out'); }
  return response;
}

// Re-renders a subject's usage panel from the server (debounced: a burst of events, one request).
const pending = new Map();
function refreshUsage(subject) {
  const panel = document.querySelector('[data-usage-of="' + CSS.escape(subject) + '"]');
  if (!panel || pending.has(subject)) return;
  pending.set(subject, setTimeout(async () => {
    pending.delete(subject);
    const response = await api(panel.dataset.usageUrl);
    if (response.ok) panel.outerHTML = await response.text();
  }, 150));
}

for (const form of document.querySelectorAll('form[data-reset-url]')) {
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const out = form.querySelector('[data-result]');
    const metrics = [...form.querySelectorAll('input[name=metric]:checked')].map((box) => box.value);
    const body = { reason: form.elements.reason.value, ...(metrics.length > 0 && { metrics }) };
    out.textContent = 'resetting…';
    const response = await api(form.dataset.resetUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-quotagate-csrf': csrf },
      body: JSON.stringify(body),
    });
    const answer = await response.json();
    out.className = response.ok ? 'muted' : 'error';
    out.textContent = response.ok
      ? 'reset ' + answer.reset.map((r) => r.metric + ' (was ' + r.previous + ')').join(', ')
      : answer.detail;
    if (response.ok) { form.elements.reason.value = ''; refreshUsage(form.dataset.subject); }
  });
}

const feed = document.querySelector('[data-feed-url]');
if (feed) {
  const list = feed.querySelector('.feed');
  const state = feed.querySelector('.feed-state');
  const show = (value, text) => { state.dataset.state = value; state.textContent = text; };
  const item = (cells) => {
    const li = document.createElement('li');
    for (const [cls, text] of cells) {
      const span = document.createElement('span');
      span.className = cls;
      span.textContent = text;
      li.append(span);
    }
    list.prepend(li);
    while (list.children.length > 100) list.lastElementChild.remove();
    return li;
  };
  const source = new EventSource(feed.dataset.feedUrl);
  source.addEventListener('ready', () => show('live', 'live'));
  source.addEventListener('error', () => show('connecting', 'reconnecting…'));
  source.addEventListener('dropped', (event) => item([['kind', 'dropped'], ['muted', JSON.parse(event.data).count + ' events not shown (too many at once)']]));
  source.addEventListener('ledger', (event) => {
    const e = JSON.parse(event.data);
    const li = item([
      ['muted', new Date(e.at).toLocaleTimeString()],
      ['kind kind--' + e.kind, e.kind],
      ['subject', e.subject],
      ['metric', e.kind === 'denied'
        ? e.metric + ' asked ' + e.requested + ' at ' + e.value
        : e.metric + ' ' + (e.delta >= 0 ? '+' : '') + e.delta + ' → ' + e.value],
      ['muted', e.reason ? e.actor + ': ' + e.reason : ''],
    ]);
    li.dataset.kind = e.kind;
    li.dataset.subject = e.subject;
    li.dataset.metric = e.metric;
    refreshUsage(e.subject);
  });
}
`;
