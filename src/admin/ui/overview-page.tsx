import type { Overview } from '../overview/overview.js';
import { DailyBars } from './charts.js';
import { Layout } from './layout.js';
import { subjectUrl } from './pages.js';
import { Time } from './time.js';
import { Legend, UsageBar } from './usage-bars.js';
import { fmt } from './format.js';

const percent = (rate: number | null) => (rate === null ? '—' : `${fmt(rate)} %`);

function Tile(props: { name: string; label: string; value: string; detail?: unknown; tone?: 'ok' | 'warn' | 'bad' }) {
  return (
    <div class={`tile tile--${props.tone ?? 'ok'}`} data-tile={props.name}>
      <span class="tile__label">{props.label}</span>
      <span class="tile__value">{props.value}</span>
      {props.detail !== undefined && <span class="tile__detail">{props.detail}</span>}
    </div>
  );
}

/** /admin/ui/overview: what needs attention across every subject (GET /admin/v1/overview, drawn). */
export function OverviewPage({ csrf, overview: o }: { csrf: string; overview: Overview }) {
  const subjectsNear = new Set(o.near_limit.map((e) => e.subject)).size;
  const exceeded = o.near_limit.filter((e) => e.status === 'exceeded').length;
  // Charges and denials of every metric together (a request charging two metrics counts twice).
  const recent = o.denials.recent.reduce((t, r) => ({ charges: t.charges + r.charges, denials: t.denials + r.denials }), { charges: 0, denials: 0 });
  const recentRate = recent.charges + recent.denials === 0 ? null : Math.round((recent.denials / (recent.charges + recent.denials)) * 1000) / 10;
  const lastRun = o.drift.last_run;
  const weekDrifts = Object.values(o.drift.week).reduce((a, b) => a + b, 0);
  return (
    <Layout title="Overview" csrf={csrf}>
      <h1>Overview</h1>
      <div class="tiles">
        <Tile
          name="near-limit"
          label="Near or over a limit"
          value={`${subjectsNear} subject${subjectsNear === 1 ? '' : 's'}`}
          detail={exceeded > 0 ? `${exceeded} metric${exceeded === 1 ? '' : 's'} exceeded` : 'none exceeded'}
          tone={exceeded > 0 ? 'bad' : subjectsNear > 0 ? 'warn' : 'ok'}
        />
        <Tile
          name="denial-rate"
          label="Denial rate, last 24 h"
          value={percent(recentRate)}
          detail={`${fmt(recent.denials)} denied of ${fmt(recent.charges + recent.denials)}`}
          tone={(recentRate ?? 0) >= 5 ? 'bad' : (recentRate ?? 0) > 0 ? 'warn' : 'ok'}
        />
        <Tile
          name="drift"
          label="Reconciliation"
          value={lastRun ? `${fmt(Number(lastRun.stats.drifts ?? 0))} drift${lastRun.stats.drifts === 1 ? '' : 's'}` : 'never run'}
          detail={
            lastRun ? (
              <>
                last run <Time at={lastRun.finished_at ?? lastRun.started_at} /> · {weekDrifts} this week
              </>
            ) : (
              'no run yet'
            )
          }
          tone={lastRun?.status === 'failed' ? 'bad' : weekDrifts > 0 ? 'warn' : 'ok'}
        />
        <Tile
          name="dead-letters"
          label="Dead letters"
          value={fmt(o.dead_letters.pending)}
          detail={
            o.dead_letters.oldest_at ? (
              <>
                oldest <Time at={o.dead_letters.oldest_at} />
              </>
            ) : (
              'none waiting'
            )
          }
          tone={o.dead_letters.pending > 0 ? 'bad' : 'ok'}
        />
      </div>

      <h2>Near or over their limits</h2>
      <Legend />
      <table data-near-limit>
        <thead>
          <tr>
            <th>Subject</th>
            <th>Plan</th>
            <th>Metric</th>
            <th>Usage</th>
            <th>Forecast (estimate)</th>
          </tr>
        </thead>
        <tbody>
          {o.near_limit.length === 0 && (
            <tr>
              <td colspan={5} class="muted">
                Nobody is at 80 % of a limit or on pace to run out.
              </td>
            </tr>
          )}
          {o.near_limit.map((e) => (
            <tr data-subject={e.subject} data-metric={e.metric}>
              <td>
                <a href={subjectUrl(e.subject)}>{e.subject}</a>
              </td>
              <td>{e.plan}</td>
              <td>
                <code>{e.metric}</code>
              </td>
              <td>
                <UsageBar m={e} />
              </td>
              <td>
                {e.forecast === null ? (
                  <span class="muted">—</span>
                ) : e.forecast.limit_reached_at !== null ? (
                  <strong class="warn">
                    runs out around <Time at={e.forecast.limit_reached_at} />
                  </strong>
                ) : (
                  <span>{fmt(e.forecast.projected_percent)} % by the period's end</span>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>

      <div class="columns">
        <section>
          <h2>
            Denials per day <span class="muted">(every subject, UTC days)</span>
          </h2>
          <div class="card">
            <DailyBars
              name="denials"
              label={`Quota denials per day over ${o.days} days`}
              days={o.denials.daily.map((d) => ({
                date: d.date,
                value: d.denials,
                title: `${d.date} (UTC): ${fmt(d.denials)} denied of ${fmt(d.charges + d.denials)} (${percent(d.rate)})`,
              }))}
            />
            <table data-denial-rates>
              <thead>
                <tr>
                  <th>Metric, last 24 h</th>
                  <th>Allowed</th>
                  <th>Denied</th>
                  <th>Rate</th>
                </tr>
              </thead>
              <tbody>
                {o.denials.recent.length === 0 && (
                  <tr>
                    <td colspan={4} class="muted">
                      No charges in the last 24 hours.
                    </td>
                  </tr>
                )}
                {o.denials.recent.map((r) => (
                  <tr data-metric={r.metric}>
                    <td>
                      <code>{r.metric}</code>
                    </td>
                    <td>{fmt(r.charges)}</td>
                    <td>{fmt(r.denials)}</td>
                    <td>{percent(r.rate)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </section>
        <section>
          <h2>
            Top consumers <span class="muted">(last {o.days} days)</span>
          </h2>
          <div class="top-consumers">
            {o.top_consumers.map((t) => {
              const most = t.subjects[0]?.usage ?? 1;
              return (
                <div class="card" data-top={t.metric}>
                  <h3>
                    <code>{t.metric}</code>
                  </h3>
                  {t.subjects.length === 0 && <p class="muted">No usage.</p>}
                  <ol>
                    {t.subjects.map((s) => (
                      <li>
                        <a href={subjectUrl(s.subject)}>{s.subject}</a>
                        <span class="share">
                          <span style={`width:${Math.max(2, Math.round((s.usage / most) * 100))}%`}></span>
                        </span>
                        <span class="usage__text">{fmt(s.usage)}</span>
                      </li>
                    ))}
                  </ol>
                </div>
              );
            })}
          </div>
        </section>
      </div>

      <h2>Reconciliation</h2>
      <div class="card" data-drift>
        {lastRun ? (
          <p>
            Run #{lastRun.id} ({lastRun.trigger}) {lastRun.status}, <Time at={lastRun.finished_at ?? lastRun.started_at} />: compared {fmt(Number(lastRun.stats.compared ?? 0))}{' '}
            counters, {fmt(Number(lastRun.stats.drifts ?? 0))} drifts ({fmt(Number(lastRun.stats.repaired ?? 0))} repaired). This week:{' '}
            {Object.entries(o.drift.week)
              .map(([action, n]) => `${n} ${action}`)
              .join(', ') || 'no drift'}
            .
          </p>
        ) : (
          <p class="muted">No reconciliation has run yet.</p>
        )}
        {o.drift.recent.length > 0 && (
          <table>
            <thead>
              <tr>
                <th>When</th>
                <th>Subject</th>
                <th>Metric</th>
                <th>Redis</th>
                <th>Ledger</th>
                <th>Action</th>
              </tr>
            </thead>
            <tbody>
              {o.drift.recent.map((d) => (
                <tr>
                  <td class="muted">
                    <Time at={d.at} />
                  </td>
                  <td>
                    <a href={subjectUrl(d.subject)}>{d.subject}</a>
                  </td>
                  <td>
                    <code>{d.metric}</code>
                  </td>
                  <td>{d.redis_value ?? 'missing'}</td>
                  <td>{d.ledger_value}</td>
                  <td>{d.action}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </div>
    </Layout>
  );
}
