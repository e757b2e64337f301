import type { Policy } from '../../config/policy.js';
import type { subjectHistory } from '../usage-history-routes.js';
import { DailyBars } from './charts.js';
import { AuditTable, LedgerTable, type loadHistory } from './history-tables.js';
import { Layout, UI_BASE } from './layout.js';
import { MetricCard } from './metric-card.js';
import { GrantsTable, SubjectActions } from './subject-actions.js';
import { Time } from './time.js';
import { Legend, UsageBar, UsagePanel, type SubjectDetail } from './usage-bars.js';

export type UsageHistoryView = Awaited<ReturnType<typeof subjectHistory>>;

export const subjectUrl = (id: string) => `${UI_BASE}/subjects/${encodeURIComponent(id)}`;

/** The live feed panel; the page's script connects it (of one subject, or of all). */
function FeedPanel({ subject }: { subject?: string }) {
  const url = `${UI_BASE}/feed${subject === undefined ? '' : `?subject=${encodeURIComponent(subject)}`}`;
  return (
    <section class="card" data-feed-url={url}>
      <h2>
        Live feed{' '}
        <span class="feed-state" data-state="connecting">
          connecting…
        </span>
      </h2>
      <p class="muted">Decisions, denials and changes as they happen, on every gateway.</p>
      <ul class="feed" aria-live="polite"></ul>
    </section>
  );
}

export function SubjectsPage(props: { csrf: string; policy: Policy; subjects: SubjectDetail[]; plan?: string; nextPage: string | null }) {
  const metrics = Object.keys(props.policy.metrics);
  return (
    <Layout title="Subjects" csrf={props.csrf}>
      <h1>Subjects</h1>
      <form class="inline" method="get" action={UI_BASE}>
        <input type="text" name="subject" placeholder="subject id" aria-label="Subject id" required />
        <button type="submit">Open</button>
        <span class="muted">Plan:</span>
        {['all', ...Object.keys(props.policy.plans)].map((plan) => (
          <a href={plan === 'all' ? UI_BASE : `${UI_BASE}?plan=${encodeURIComponent(plan)}`} aria-current={(props.plan ?? 'all') === plan ? 'page' : undefined}>
            {plan}
          </a>
        ))}
      </form>
      <Legend />
      <div class="wide">
        <table>
          <thead>
            <tr>
              <th>Subject</th>
              <th>Plan</th>
              {metrics.map((m) => (
                <th>{m}</th>
              ))}
            </tr>
          </thead>
          <tbody>
            {props.subjects.length === 0 && (
              <tr>
                <td colspan={metrics.length + 2} class="muted">
                  No subjects.
                </td>
              </tr>
            )}
            {props.subjects.map((s) => (
              <tr data-subject={s.id}>
                <td>
                  <a href={subjectUrl(s.id)}>{s.id}</a>
                </td>
                <td>{s.plan}</td>
                {s.metrics.map((m) => (
                  <td data-metric={m.metric}>
                    <UsageBar m={m} />
                  </td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
        {props.nextPage && (
          <p>
            <a href={props.nextPage}>Next page →</a>
          </p>
        )}
      </div>
      <FeedPanel />
    </Layout>
  );
}

export function SubjectPage(props: { csrf: string; policy: Policy; subject: SubjectDetail; usageHistory: UsageHistoryView; history: Awaited<ReturnType<typeof loadHistory>> }) {
  const { subject, usageHistory: h } = props;
  const anchor = subject.anchor === null ? null : Date.parse(subject.anchor);
  const byDay = new Map<string, { total: number; metrics: string[] }>();
  for (const m of h.metrics) {
    for (const d of m.daily) {
      const day = byDay.get(d.date) ?? { total: 0, metrics: [] };
      day.total += d.denials;
      if (d.denials > 0) day.metrics.push(`${m.metric} ${d.denials}`);
      byDay.set(d.date, day);
    }
  }
  return (
    <Layout title={subject.id} csrf={props.csrf}>
      <h1>
        <code>{subject.id}</code>
      </h1>
      <p>
        Plan <strong data-plan>{subject.plan}</strong> · period <Time at={subject.period.start} /> – <Time at={subject.period.end} />
        {Object.keys(subject.overrides).length > 0 && (
          <>
            {' '}
            · overrides <code>{JSON.stringify(subject.overrides)}</code>
          </>
        )}
      </p>
      <div class="grid">
        <div>
          <Legend />
          <UsagePanel subject={subject} />
        </div>
        <FeedPanel subject={subject.id} />
      </div>
      <h2>
        Last {h.days} days <span class="muted">(UTC days; hover for figures)</span>
      </h2>
      <div class="metric-cards">
        {h.metrics.map((m) => (
          <MetricCard m={m} from={h.from} now={h.to} anchor={anchor} />
        ))}
      </div>
      <div class="columns">
        <section>
          <h2>Denials per day</h2>
          <div class="card">
            <DailyBars
              name="denials"
              label={`Quota denials of ${subject.id} per day`}
              days={[...byDay.entries()].map(([date, d]) => ({
                date,
                value: d.total,
                title: `${date} (UTC): ${d.total} denied${d.metrics.length > 0 ? ` (${d.metrics.join(', ')})` : ''}`,
              }))}
            />
          </div>
        </section>
        <section>
          <h2>Grants</h2>
          <GrantsTable subject={subject} />
          <p class="result" data-grants-result role="status"></p>
        </section>
      </div>
      <h2>Change</h2>
      <SubjectActions policy={props.policy} subject={subject} />
      <h2>Ledger</h2>
      <LedgerTable ledger={props.history.ledger} />
      <h2>Audit trail</h2>
      <AuditTable audit={props.history.audit} />
    </Layout>
  );
}

export function NotFoundPage(props: { csrf: string; id: string }) {
  return (
    <Layout title="Not found" csrf={props.csrf}>
      <h1>No subject “{props.id}”</h1>
      <p>
        <a href={UI_BASE}>Back to the subjects</a>
      </p>
    </Layout>
  );
}
