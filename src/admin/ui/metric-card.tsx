import { UsageChart, type MetricHistoryView } from './charts.js';
import { Time } from './time.js';
import { fmt } from './format.js';

/** What the forecast says, in words, or why there is none. */
function ForecastNote({ m }: { m: MetricHistoryView }) {
  const f = m.forecast;
  if (m.kind === 'gauge') return <p class="note muted">A level: it goes up and down and never resets, so it has no forecast.</p>;
  if (m.limit === null) return <p class="note muted">Unlimited: nothing to run out of, so no forecast.</p>;
  if (!f) return <p class="note muted">No forecast yet: it needs usage on 3 complete days (UTC).</p>;
  const capacity = m.used + (m.remaining ?? 0);
  return (
    <p class="note" data-forecast>
      <span class="badge">estimate</span> Projected <strong>{fmt(f.projected_used)}</strong> of {fmt(capacity)} ({fmt(f.projected_percent)} %) when the period ends{' '}
      <Time at={m.resets_at} /> · pace {fmt(f.daily_rate)}/day · budget {fmt(f.daily_budget)}/day to last
      {f.limit_reached_at !== null && (
        <>
          {' '}
          ·{' '}
          <strong class="warn">
            runs out around <Time at={f.limit_reached_at} />
          </strong>
        </>
      )}
    </p>
  );
}

/** One metric's chart and forecast, as the subject page shows it. */
export function MetricCard(props: { m: MetricHistoryView; from: string; now: string; anchor: number | null }) {
  const { m } = props;
  return (
    <section class="card metric-card" data-history-of={m.metric}>
      <h3>
        <code>{m.metric}</code>{' '}
        <span class="muted">
          {fmt(m.used)}
          {m.limit === null ? ' · unlimited' : ` of ${fmt(m.limit)}`}
          {m.grant_balance > 0 && ` + ${fmt(m.grant_balance)} granted`}
        </span>
      </h3>
      <UsageChart m={m} from={props.from} now={props.now} anchor={props.anchor} />
      <ForecastNote m={m} />
    </section>
  );
}
