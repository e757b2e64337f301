import type { Policy } from '../../config/policy.js';
import { Time } from './time.js';
import { UI_BASE } from './layout.js';
import type { SubjectDetail } from './usage-bars.js';

/**
 * The changes an operator makes from a subject's page. Each form is sent by the page's
 * script to the admin JSON API itself (with the session's CSRF header), so a change from
 * the dashboard is the admin API's change: the same checks, the same audit entry.
 * `data-action` names what the script says about the answer; `data-type` how a field is sent.
 */

const api = (subject: string, ...rest: string[]) => ['/admin/v1/subjects', encodeURIComponent(subject), ...rest].join('/');

function ActionForm(props: { action: string; title: string; url: string; method: 'POST' | 'PATCH'; subject: string; button: string; danger?: boolean; children?: unknown }) {
  return (
    <form class="action card" data-action={props.action} data-url={props.url} data-method={props.method} data-subject={props.subject}>
      <h3>{props.title}</h3>
      {props.children}
      <label>
        Reason <input type="text" name="reason" placeholder="audited" required maxlength={500} />
      </label>
      <button type="submit" class={props.danger ? 'danger' : undefined}>
        {props.button}
      </button>
      <p class="result" data-result role="status"></p>
    </form>
  );
}

const MetricSelect = (props: { metrics: string[] }) => (
  <label>
    Metric{' '}
    <select name="metric" required>
      {props.metrics.map((m) => (
        <option value={m}>{m}</option>
      ))}
    </select>
  </label>
);

/** Grant credits, adjust usage, change the plan, reset counters. */
export function SubjectActions(props: { policy: Policy; subject: SubjectDetail }) {
  const { subject, policy } = props;
  const metrics = Object.keys(policy.metrics);
  const counters = metrics.filter((m) => policy.metrics[m]!.kind === 'counter');
  return (
    <div class="actions">
      <ActionForm action="grant" title="Grant credits" url={api(subject.id, 'grants')} method="POST" subject={subject.id} button="Grant">
        <MetricSelect metrics={metrics} />
        <label>
          Amount <input type="number" name="amount" min={1} step={1} required data-type="int" />
        </label>
        <label>
          Expires <input type="datetime-local" name="expires_at" data-type="local-time" /> <span class="muted">(local time; empty: never)</span>
        </label>
      </ActionForm>
      <ActionForm action="plan" title="Change plan" url={api(subject.id)} method="PATCH" subject={subject.id} button="Change plan">
        <label>
          Plan{' '}
          <select name="plan" required>
            {Object.keys(policy.plans).map((p) => (
              <option value={p} selected={p === subject.plan}>
                {p}
              </option>
            ))}
          </select>
        </label>
        <label class="check">
          <input type="checkbox" name="force" data-type="flag" /> force a downgrade past a gauge's level
        </label>
      </ActionForm>
      <ActionForm action="adjust" title="Adjust usage" url={api(subject.id, 'adjust')} method="POST" subject={subject.id} button="Adjust">
        <MetricSelect metrics={metrics} />
        <label>
          By <input type="number" name="delta" step={1} required data-type="int" placeholder="-5 or 5" />
        </label>
      </ActionForm>
      <ActionForm action="reset" title="Reset counters" url={api(subject.id, 'reset')} method="POST" subject={subject.id} button="Reset" danger>
        <fieldset>
          {counters.map((m) => (
            <label>
              <input type="checkbox" name="metrics" value={m} data-type="list" /> {m}
            </label>
          ))}
          <span class="muted">(none ticked: every counter)</span>
        </fieldset>
      </ActionForm>
    </div>
  );
}

/**
 * The subject's usable grants with a revoke button each; the script re-renders it from
 * `${UI_BASE}/subjects/:id/grants` after a change, and says what a revocation did in the
 * page's `[data-grants-result]` (outside it, so a re-render keeps the message).
 */
export function GrantsTable({ subject }: { subject: Pick<SubjectDetail, 'id' | 'grants'> }) {
  return (
    <section data-grants-of={subject.id} data-grants-url={`${UI_BASE}/subjects/${encodeURIComponent(subject.id)}/grants`}>
      <table data-grants>
        <thead>
          <tr>
            <th>Grant</th>
            <th>Metric</th>
            <th>Remaining</th>
            <th>Expires</th>
            <th>Reason</th>
            <th>By</th>
            <th></th>
          </tr>
        </thead>
        <tbody>
          {subject.grants.length === 0 && (
            <tr>
              <td colspan={7} class="muted">
                No usable grants.
              </td>
            </tr>
          )}
          {subject.grants.map((g) => (
            <tr data-grant={g.id}>
              <td>
                <code>{g.id}</code>
              </td>
              <td>{g.metric}</td>
              <td>
                {g.remaining}
                {g.amount !== null && ` of ${g.amount}`}
              </td>
              <td>{g.expires_at === null ? 'never' : <Time at={g.expires_at} />}</td>
              <td>{g.reason ?? ''}</td>
              <td>{g.created_by ?? ''}</td>
              <td>
                <button type="button" class="small danger" data-revoke-url={api(subject.id, 'grants', g.id)} data-subject={subject.id}>
                  Revoke
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
