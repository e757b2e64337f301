import type { Policy } from '../../config/policy.js';
import { AuditTable, LedgerTable, type loadHistory } from './history-tables.js';
import { Layout, UI_BASE } from './layout.js';
import { Legend, UsageBar, UsagePanel, type SubjectDetail } from './usage-bars.js';

const subjectUrl = (id: string) => `${UI_BASE}/subjects/${encodeURIComponent(id)}`;

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

export function SubjectPage(props: { csrf: string; policy: Policy; subject: SubjectDetail; history: Awaited<ReturnType<typeof loadHistory>> }) {
  const { subject } = props;
  const counters = subject.metrics.filter((m) => m.kind === 'counter').map((m) => m.metric);
  return (
    <Layout title={subject.id} csrf={props.csrf}>
      <h1>
        <code>{subject.id}</code>
      </h1>
      <p>
        Plan <strong>{subject.plan}</strong> · period {subject.period.start} – {subject.period.end}
        {Object.keys(subject.overrides).length > 0 && (
          <>
            {' '}
            · overrides <code>{JSON.stringify(subject.overrides)}</code>
          </>
        )}
      </p>
      <Legend />
      <div class="grid">
        <div>
          <UsagePanel subject={subject} />
          <h2>Reset usage</h2>
          <form class="inline card" data-reset-url={`/admin/v1/subjects/${encodeURIComponent(subject.id)}/reset`} data-subject={subject.id}>
            {counters.map((m) => (
              <label>
                <input type="checkbox" name="metric" value={m} /> {m}
              </label>
            ))}
            <span class="muted">(none ticked: every counter)</span>
            <input type="text" name="reason" placeholder="reason (audited)" aria-label="Reason" required maxlength={500} />
            <button type="submit" class="danger">
              Reset
            </button>
            <span data-result role="status"></span>
          </form>
          <h2>Grants</h2>
          <table data-grants>
            <thead>
              <tr>
                <th>Grant</th>
                <th>Metric</th>
                <th>Remaining</th>
                <th>Expires</th>
                <th>Reason</th>
                <th>By</th>
              </tr>
            </thead>
            <tbody>
              {subject.grants.length === 0 && (
                <tr>
                  <td colspan={6} class="muted">
                    No usable grants.
                  </td>
                </tr>
              )}
              {subject.grants.map((g) => (
                <tr>
                  <td>
                    <code>{g.id}</code>
                  </td>
                  <td>{g.metric}</td>
                  <td>
                    {g.remaining}
                    {g.amount !== null && ` of ${g.amount}`}
                  </td>
                  <td>{g.expires_at ?? 'never'}</td>
                  <td>{g.reason ?? ''}</td>
                  <td>{g.created_by ?? ''}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <h2>Ledger</h2>
          <LedgerTable ledger={props.history.ledger} />
          <h2>Audit trail</h2>
          <AuditTable audit={props.history.audit} />
        </div>
        <FeedPanel subject={subject.id} />
      </div>
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
