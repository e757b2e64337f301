import { STATUS_THRESHOLDS, type UsageStatus } from '../../quota/usage-status.js';
import type { subjectDetailJson } from '../subject-view.js';
import { UI_BASE } from './layout.js';
import { Time } from './time.js';

export type SubjectDetail = Awaited<ReturnType<typeof subjectDetailJson>>;
export type MetricEntry = SubjectDetail['metrics'][number];

/**
 * One metric's usage as a bar: its width is the percentage (capped at 100), its colour the
 * status that usageStatus derives from STATUS_THRESHOLDS (class bar--ok|warning|critical|exceeded).
 */
export function UsageBar({ m }: { m: MetricEntry }) {
  const granted = m.grant_balance > 0 ? ` + ${m.grant_balance} granted` : '';
  if (m.percent === null) {
    return (
      <div class="usage">
        <div class="bar bar--unlimited" role="meter" aria-label={`${m.metric} usage`} aria-valuetext={`${m.used}, unlimited`}></div>
        <span class="usage__text">{m.used} · unlimited</span>
      </div>
    );
  }
  return (
    <div class="usage">
      <div
        class={`bar bar--${m.status}`}
        role="progressbar"
        aria-label={`${m.metric} usage`}
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={m.percent}
        aria-valuetext={`${m.percent} % (${m.status})`}
        data-status={m.status}
      >
        <span class="bar__fill" style={`width:${Math.min(100, m.percent)}%`}></span>
      </div>
      <span class="usage__text">
        {m.used} / {m.limit}
        {granted} · {m.percent} %
      </span>
    </div>
  );
}

/** A subject's usage per metric; the page's script re-renders it from `${UI_BASE}/subjects/:id/usage` when the feed shows a change. */
export function UsagePanel({ subject }: { subject: SubjectDetail }) {
  return (
    <section data-usage-of={subject.id} data-usage-url={`${UI_BASE}/subjects/${encodeURIComponent(subject.id)}/usage`}>
      <table>
        <thead>
          <tr>
            <th>Metric</th>
            <th>Kind</th>
            <th>Usage</th>
            <th>Status</th>
            <th>Resets</th>
          </tr>
        </thead>
        <tbody>
          {subject.metrics.map((m) => (
            <tr data-metric={m.metric}>
              <td>
                <code>{m.metric}</code>
              </td>
              <td class="muted">{m.kind}</td>
              <td>
                <UsageBar m={m} />
              </td>
              <td>{m.status}</td>
              <td class="muted">{m.resets_at === null ? 'never (a level)' : <Time at={m.resets_at} />}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

const COLOURS: Record<UsageStatus, string> = { ok: 'var(--ok)', warning: 'var(--warning)', critical: 'var(--critical)', exceeded: 'var(--exceeded)' };

/** What the colours mean, from the same thresholds the statuses come from. */
export function Legend() {
  const lowest = STATUS_THRESHOLDS[STATUS_THRESHOLDS.length - 1]![0];
  return (
    <p class="legend">
      <span style={`--c:${COLOURS.ok}`}>ok &lt; {lowest} %</span>
      {[...STATUS_THRESHOLDS].reverse().map(([threshold, status]) => (
        <span style={`--c:${COLOURS[status]}`}>
          {status} ≥ {threshold} %
        </span>
      ))}
    </p>
  );
}
