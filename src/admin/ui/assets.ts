/**
 * The dashboard's stylesheet and its one small script, served as files so that the pages'
 * Content-Security-Policy can forbid inline scripts. The script only wires the
 * server-rendered pages: it shows times in the viewer's local time, swaps in fragments the
 * server renders, sends the change forms (grant, revoke, plan, adjust, reset) to the JSON
 * API, and lists the live feed (as text, never as HTML). Charts are SVG from the server.
 */

export const STYLESHEET = `
:root{--ok:#2f9e44;--warning:#f0a202;--critical:#e8590c;--exceeded:#c92a2a;--muted:#6b7280;--line:#e5e7eb;--line-blue:#1c7ed6;--forecast:#7048e8}
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
main a{color:#1d4ed8;text-decoration:none}main a:hover{text-decoration:underline}
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
.tiles{display:grid;grid-template-columns:repeat(auto-fit,minmax(13rem,1fr));gap:1rem;margin:1rem 0 1.5rem}
.tile{background:#fff;border:1px solid var(--line);border-left:.35rem solid var(--ok);border-radius:.4rem;padding:.7rem 1rem;display:flex;flex-direction:column;gap:.15rem}
.tile--warn{border-left-color:var(--warning)}.tile--bad{border-left-color:var(--exceeded)}
.tile__label{font-size:.8em;color:var(--muted);text-transform:uppercase;letter-spacing:.04em}
.tile__value{font-size:1.6rem;font-weight:600;font-variant-numeric:tabular-nums}
.tile__detail{font-size:.85em;color:var(--muted)}
.columns{display:grid;grid-template-columns:repeat(auto-fit,minmax(24rem,1fr));gap:1.5rem}
.top-consumers{display:grid;grid-template-columns:repeat(auto-fit,minmax(14rem,1fr));gap:1rem}
.top-consumers h3,.metric-card h3,.action h3{margin:0 0 .5rem;font-size:1rem}
.top-consumers ol{margin:0;padding-left:1.3rem}.top-consumers li{display:grid;grid-template-columns:minmax(0,1fr) 5rem auto;gap:.5rem;align-items:center;padding:.15rem 0}
.top-consumers li a{overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.share{height:.5rem;background:var(--line);border-radius:.25rem;overflow:hidden}.share span{display:block;height:100%;background:var(--line-blue)}
.metric-cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(34rem,1fr));gap:1rem}
.chart{width:100%;height:auto;display:block;font-size:13px;font-family:inherit}.chart--small{font-size:12px}
.chart .gridlines line{stroke:#eef0f3}.chart .gridlines text,.chart .axis text,.chart .bars-label{fill:var(--muted)}
.chart .future{fill:#f5f3ff}
.chart .level .area{fill:var(--line-blue);opacity:.12}.chart .level .line{fill:none;stroke:var(--line-blue);stroke-width:2;stroke-linejoin:round}
.chart .point{fill:#fff;stroke:var(--line-blue);stroke-width:1.5}.chart .point:hover{r:4}
.chart .forecast{fill:none;stroke:var(--forecast);stroke-width:2;stroke-dasharray:6 4}
.chart .limit line{stroke:var(--exceeded);stroke-width:1.5;stroke-dasharray:3 3}.chart .limit text{fill:var(--exceeded);font-weight:600}
.chart .now{stroke:#94a3b8;stroke-dasharray:2 3}
.chart .period-start line{stroke:#cbd5e1}.chart .period-start text{fill:var(--muted)}
.chart .day{fill:#94a3b8}.chart .day--today{fill:#64748b}.chart .day:hover{fill:var(--line-blue)}
.chart .days--denials .day{fill:var(--exceeded)}.chart .days--denials .day:hover{fill:#8b1a1a}.chart .baseline{stroke:#cbd5e1}.chart .empty{fill:var(--muted)}
.note{margin:.4rem 0 0;font-size:.9em}.badge{display:inline-block;font-size:.75em;padding:0 .4em;border-radius:.3em;background:#ede9fe;color:var(--forecast);font-weight:600;text-transform:uppercase;letter-spacing:.03em}
.warn{color:var(--exceeded)}
.actions{display:grid;grid-template-columns:repeat(auto-fit,minmax(15rem,1fr));gap:1rem;align-items:start}
.action{display:flex;flex-direction:column;gap:.45rem}.action label{display:flex;flex-wrap:wrap;gap:.35rem;align-items:center}
.action fieldset{border:0;padding:0;margin:0;display:flex;flex-wrap:wrap;gap:.6rem}
.action input[type=text],.action input[type=number],.action select,.action input[type=datetime-local]{flex:1;min-width:6rem;padding:.3rem .45rem;border:1px solid #cbd5e1;border-radius:.3rem;font:inherit}
.action button{align-self:flex-start}.action label.check{flex-wrap:nowrap;align-items:flex-start}
.result{margin:0;min-height:1.2em;font-size:.9em}.result.done{color:var(--ok)}.result.error{color:var(--exceeded)}
button.small{padding:.15rem .5rem;font-size:.85em}
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

// Instants arrive in UTC; show them in the viewer's local time, the UTC value on hover.
function localizeTimes(root) {
  for (const t of root.querySelectorAll('time[datetime]')) {
    const at = new Date(t.dateTime);
    if (Number.isNaN(at.getTime())) continue;
    t.textContent = at.toLocaleString([], { dateStyle: 'medium', timeStyle: 'short' });
    t.title = at.toISOString() + ' (UTC)';
  }
}
localizeTimes(document);

// Re-renders a subject's fragment (usage panel, grants) from the server (debounced: a burst of events, one request).
const pending = new Map();
function refresh(kind, subject) {
  const section = document.querySelector('[data-' + kind + '-of="' + CSS.escape(subject) + '"]');
  const key = kind + ' ' + subject;
  if (!section || pending.has(key)) return;
  pending.set(key, setTimeout(async () => {
    pending.delete(key);
    const response = await api(section.dataset[kind + 'Url']);
    if (!response.ok) return;
    const template = document.createElement('template');
    template.innerHTML = await response.text();
    const fresh = template.content.firstElementChild;
    localizeTimes(fresh);
    section.replaceWith(fresh);
  }, 150));
}

function send(url, method, body) {
  return api(url, {
    method,
    headers: { 'content-type': 'application/json', 'x-quotagate-csrf': csrf },
    body: JSON.stringify(body),
  });
}

// A form's fields as the admin API takes them: data-type int, list (checked boxes), flag
// (a ticked box is true), local-time (datetime-local, sent as an ISO instant); empty ones left out.
function bodyOf(form) {
  const body = {};
  for (const field of form.elements) {
    if (!field.name) continue;
    const type = field.dataset.type || 'text';
    if (type === 'list') { if (field.checked) (body[field.name] ||= []).push(field.value); continue; }
    if (type === 'flag') { if (field.checked) body[field.name] = true; continue; }
    if (field.value === '') continue;
    body[field.name] = type === 'int' ? Number(field.value) : type === 'local-time' ? new Date(field.value).toISOString() : field.value;
  }
  return body;
}

// What each change answered, in words; a refused downgrade names what must go.
const said = {
  reset: (a) => 'reset ' + a.reset.map((r) => r.metric + ' (was ' + r.previous + ')').join(', '),
  grant: (a) => 'granted ' + a.amount + ' ' + a.metric + ' (' + a.id + '); ' + a.metric + ' grant balance ' + a.balance,
  adjust: (a) => a.metric + ' is ' + a.value + ' now (moved by ' + a.applied + ')',
  plan: (a) => 'plan is ' + a.plan + ' now',
};
const refused = (a) => a.code === 'downgrade_blocked'
  ? 'Downgrade blocked: ' + a.blockers.map((b) => b.message).join(', ') + ' first, or tick "force" to apply it anyway.'
  : a.detail;

for (const form of document.querySelectorAll('form[data-action]')) {
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const out = form.querySelector('[data-result]');
    const action = form.dataset.action;
    out.className = 'result muted';
    out.textContent = 'sending…';
    const response = await send(form.dataset.url, form.dataset.method, bodyOf(form));
    const answer = await response.json();
    out.className = 'result ' + (response.ok ? 'done' : 'error');
    out.textContent = response.ok ? said[action](answer) : refused(answer);
    if (!response.ok) return;
    form.elements.reason.value = '';
    if (action === 'plan') document.querySelector('[data-plan]').textContent = answer.plan;
    refresh('usage', form.dataset.subject);
    refresh('grants', form.dataset.subject);
  });
}

document.addEventListener('click', async (event) => {
  const button = event.target.closest('[data-revoke-url]');
  if (!button) return;
  const reason = prompt('Why revoke this grant? (audited)');
  if (reason === null) return;
  const out = document.querySelector('[data-grants-result]');
  const response = await api(button.dataset.revokeUrl, {
    method: 'DELETE',
    headers: { 'content-type': 'application/json', 'x-quotagate-csrf': csrf },
    body: JSON.stringify(reason.trim() === '' ? {} : { reason: reason.trim() }),
  });
  const answer = await response.json();
  out.className = 'result ' + (response.ok ? 'done' : 'error');
  out.textContent = response.ok ? 'revoked ' + answer.id + ': ' + answer.revoked_remaining + ' ' + answer.metric + ' no longer usable' : answer.detail;
  if (response.ok) {
    refresh('usage', button.dataset.subject);
    refresh('grants', button.dataset.subject);
  }
});

const feed = document.querySelector('[data-feed-url]');
if (feed) {
  const list = feed.querySelector('.feed');
  const state = feed.querySelector('.feed-state');
  const show = (value, text) => { state.dataset.state = value; state.textContent = text; };
  const item = (cells) => {
    const li = document.createElement('li');
    for (const [cls, text, title] of cells) {
      const span = document.createElement('span');
      span.className = cls;
      span.textContent = text;
      if (title) span.title = title;
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
      ['muted', new Date(e.at).toLocaleTimeString(), e.at + ' (UTC)'],
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
    refresh('usage', e.subject);
    if (e.kind === 'grant' || e.kind === 'grant_revoke') refresh('grants', e.subject);
  });
}
`;
