import { forecastJson } from '../forecast/forecast-json.js';
import type { Forecast } from '../forecast/forecast.js';
import { usageJson } from '../http/decision-answer.js';
import type { GatewayDeps } from '../http/gateway-deps.js';
import type { MetricUsage, SubjectRef } from '../quota/types.js';
import { usageStatus } from '../quota/usage-status.js';

/** One metric as GET /v1/usage answers it: live usage, percent, status and forecast. */
export const usageEntry = (m: MetricUsage, forecast: Forecast | null) => ({ ...usageJson(m), ...usageStatus(m), forecast: forecastJson(forecast) });

/** GET /v1/usage's metrics of a subject (also the admin API's), forecasts included where Postgres answers. */
export async function usageEntries(deps: GatewayDeps, subject: SubjectRef, usage: readonly MetricUsage[]) {
  const forecasts = await deps.history.forecasts(subject, usage);
  return usage.map((m, i) => usageEntry(m, forecasts[i] ?? null));
}
