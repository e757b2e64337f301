import type { metricHistoryJson } from '../../api/history-json.js';
import { periodAt } from '../../lib/period.js';
import { DAY_MS } from '../../lib/utc-days.js';
import { fmt } from './format.js';

/**
 * The dashboard's charts: inline SVG drawn on the server from the admin API's own answers
 * (no script, no chart library, nothing from a CDN). Every mark has a <title>, which the
 * browser shows on hover. Days are UTC days, as in the history they draw.
 */

export type MetricHistoryView = ReturnType<typeof metricHistoryJson>;

const WIDTH = 720;
const LEFT = 56;
const RIGHT = 24;
const PLOT = WIDTH - LEFT - RIGHT;
const dayLabel = (ms: number) => new Date(ms).toLocaleDateString('en-US', { month: 'short', day: 'numeric', timeZone: 'UTC' });
const round1 = (n: number) => Math.round(n * 10) / 10;

/** A round step that cuts `max` into about `parts` ticks (1, 2, 2.5 or 5 times a power of ten). */
function tickStep(max: number, parts: number): number {
  const raw = Math.max(max, 1) / parts;
  const power = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 2.5, 5, 10].map((m) => m * power).find((step) => step >= raw)!;
}

/** 0, step, 2 step, … up to max. */
const ticksTo = (max: number, step: number) => Array.from({ length: Math.round(max / step) + 1 }, (_, i) => i * step);

/** Horizontal lines across the plot at `values`, labelled on the left. */
function Gridlines(props: { values: number[]; y: (v: number) => number }) {
  return (
    <g class="gridlines">
      {props.values.map((v) => (
        <>
          <line x1={LEFT} x2={WIDTH - RIGHT} y1={props.y(v)} y2={props.y(v)} />
          <text x={LEFT - 6} y={props.y(v) + 4} text-anchor="end">
            {fmt(v)}
          </text>
        </>
      ))}
    </g>
  );
}

/** Maps time to x across [from, to]. */
const timeScale = (from: number, to: number) => (t: number) => round1(LEFT + ((t - from) / (to - from)) * PLOT);

/** Labels of the x axis: a day every `every` days, from `from`. */
function DayTicks(props: { from: number; days: number; x: (t: number) => number; y: number }) {
  const every = props.days > 20 ? 7 : props.days > 10 ? 3 : 1;
  const ticks = Array.from({ length: Math.ceil(props.days / every) }, (_, i) => props.from + i * every * DAY_MS);
  return (
    <g class="axis">
      {ticks.map((t) => (
        <text x={props.x(t)} y={props.y} text-anchor="start">
          {dayLabel(t)}
        </text>
      ))}
    </g>
  );
}

/**
 * One metric over the history's days: the period-to-date usage (counters) or the level
 * (gauges) at every day's end as a line with a point per day, the limit, the forecast's
 * projection to the period's end, and below them the usage of each day as bars.
 */
export function UsageChart(props: { m: MetricHistoryView; from: string; now: string; anchor: number | null }) {
  const { m } = props;
  const from = Date.parse(props.from);
  const now = Date.parse(props.now);
  const days = m.daily.length;
  const counter = m.kind === 'counter';
  const periodEnd = m.resets_at === null ? null : Date.parse(m.resets_at);
  const to = Math.max(from + days * DAY_MS, periodEnd ?? 0);
  const x = timeScale(from, to);

  // The level at each day's end (now for today), split where a period starts: a new period starts at 0.
  const points = m.daily.map((d, i) => ({ at: Math.min(from + (i + 1) * DAY_MS, now), level: d.level, date: d.date }));
  const periodOf = (t: number) => (counter ? periodAt(t - 1, props.anchor).start : 0);
  const segments: { start: number; points: typeof points }[] = [];
  for (const p of points) {
    const start = periodOf(p.at);
    const last = segments.at(-1);
    if (last && last.start === start) last.points.push(p);
    else segments.push({ start, points: [p] });
  }
  const projection = m.projection.map((p) => ({ at: Date.parse(p.at), used: p.used }));
  const top = Math.max(m.limit ?? 0, ...points.map((p) => p.level), ...projection.map((p) => p.used), 1) * 1.08;
  const step = tickStep(top, 5);
  const yMax = Math.ceil(top / step) * step;
  const PLOT_TOP = 14;
  const PLOT_H = 150;
  const y = (v: number) => round1(PLOT_TOP + PLOT_H - (v / yMax) * PLOT_H);
  const BARS_TOP = PLOT_TOP + PLOT_H + 14;
  const BARS_H = 44;
  const barMax = Math.max(...m.daily.map((d) => Math.abs(d.usage)), 1);
  const slot = x(from + DAY_MS) - x(from);
  const height = BARS_TOP + BARS_H + 22;
  const unitWord = counter ? 'used this period' : 'level';

  return (
    <svg
      class="chart"
      data-chart="usage"
      data-metric={m.metric}
      viewBox={`0 0 ${WIDTH} ${height}`}
      role="img"
      aria-label={`${m.metric}: ${unitWord} over the last ${days} days${m.limit === null ? '' : ` against a limit of ${m.limit}`}`}
    >
      <Gridlines values={ticksTo(yMax, step)} y={y} />
      {periodEnd !== null && periodEnd > now && <rect class="future" x={x(now)} y={PLOT_TOP} width={x(periodEnd) - x(now)} height={PLOT_H} />}
      {counter &&
        segments
          .filter((s) => s.start > from)
          .map((s) => (
            <g class="period-start">
              <line x1={x(s.start)} x2={x(s.start)} y1={PLOT_TOP} y2={PLOT_TOP + PLOT_H} />
              <text x={x(s.start) + 4} y={PLOT_TOP + 10}>
                new period
              </text>
            </g>
          ))}
      {segments.map((s) => {
        // A period that starts inside the chart starts at 0 there.
        const line = [...(counter && s.start > from ? [{ at: s.start, level: 0 }] : []), ...s.points];
        const coords = line.map((p) => `${x(p.at)},${y(p.level)}`).join(' ');
        const base = y(0);
        return (
          <g class="level">
            <polygon class="area" points={`${x(line[0]!.at)},${base} ${coords} ${x(line.at(-1)!.at)},${base}`} />
            <polyline class="line" points={coords} />
          </g>
        );
      })}
      {projection.length > 0 && (
        <polyline class="forecast" data-points={projection.length + 1} points={[`${x(now)},${y(m.used)}`, ...projection.map((p) => `${x(p.at)},${y(p.used)}`)].join(' ')}>
          <title>{`Forecast (an estimate): ${fmt(projection.at(-1)!.used)} by the period's end`}</title>
        </polyline>
      )}
      {m.limit !== null && (
        <g class="limit">
          <line x1={LEFT} x2={WIDTH - RIGHT} y1={y(m.limit)} y2={y(m.limit)}>
            <title>{`Limit: ${fmt(m.limit)}`}</title>
          </line>
          <text x={WIDTH - RIGHT} y={y(m.limit) - 4} text-anchor="end">
            limit {fmt(m.limit)}
          </text>
        </g>
      )}
      <line class="now" x1={x(now)} x2={x(now)} y1={PLOT_TOP - 4} y2={BARS_TOP + BARS_H} />
      {points.map((p) => (
        <circle class="point" data-date={p.date} cx={x(p.at)} cy={y(p.level)} r="2.5">
          <title>{`${p.date} (UTC) end of day: ${fmt(p.level)} ${unitWord}`}</title>
        </circle>
      ))}
      <g class="days">
        {m.daily.map((d, i) => {
          const h = round1((Math.max(0, d.usage) / barMax) * BARS_H);
          const parts = [`${fmt(d.usage)} used`, d.reset > 0 && `${fmt(d.reset)} reset`, d.denials > 0 && `${fmt(d.denials)} denied`].filter(Boolean).join(', ');
          return (
            <rect
              class={`day${i === days - 1 ? ' day--today' : ''}`}
              data-date={d.date}
              x={round1(x(from + i * DAY_MS) + slot * 0.15)}
              y={round1(BARS_TOP + BARS_H - h)}
              width={round1(slot * 0.7)}
              height={h}
            >
              <title>{`${d.date} (UTC${i === days - 1 ? ', so far' : ''}): ${parts}`}</title>
            </rect>
          );
        })}
        <line class="baseline" x1={LEFT} x2={WIDTH - RIGHT} y1={BARS_TOP + BARS_H} y2={BARS_TOP + BARS_H} />
        <text class="bars-label" x={LEFT - 6} y={BARS_TOP + 10} text-anchor="end">
          per day
        </text>
      </g>
      <DayTicks from={from} days={Math.round((to - from) / DAY_MS)} x={x} y={height - 6} />
    </svg>
  );
}

/** Bars of one count per UTC day (denials), each with its own tooltip. */
export function DailyBars(props: { name: string; label: string; days: { date: string; value: number; title: string }[] }) {
  const height = 120;
  const TOP = 10;
  const H = 84;
  const from = Date.parse(`${props.days[0]?.date ?? '1970-01-01'}T00:00:00Z`);
  const x = timeScale(from, from + props.days.length * DAY_MS);
  const slot = x(from + DAY_MS) - x(from);
  const max = Math.max(...props.days.map((d) => d.value), 0);
  // Counts: whole-number ticks.
  const step = Math.max(1, tickStep(max, 2));
  const yMax = max === 0 ? 1 : Math.ceil(max / step) * step;
  const y = (v: number) => round1(TOP + H - (v / yMax) * H);
  return (
    <svg class="chart chart--small" data-chart={props.name} viewBox={`0 0 ${WIDTH} ${height}`} role="img" aria-label={props.label}>
      <Gridlines values={max === 0 ? [0] : ticksTo(yMax, step)} y={y} />
      <g class="days days--denials">
        {props.days.map((d, i) => (
          <rect class="day" data-date={d.date} x={round1(x(from + i * DAY_MS) + slot * 0.15)} y={y(d.value)} width={round1(slot * 0.7)} height={round1(y(0) - y(d.value))}>
            <title>{d.title}</title>
          </rect>
        ))}
      </g>
      {max === 0 && (
        <text class="empty" x={LEFT + PLOT / 2} y={TOP + H / 2} text-anchor="middle">
          none in {props.days.length} days
        </text>
      )}
      <DayTicks from={from} days={props.days.length} x={x} y={height - 6} />
    </svg>
  );
}
