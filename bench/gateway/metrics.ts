/** The gateway's own account of a run, from its Prometheus endpoint. */
export interface GatewayCounters {
  /** Decisions answered "allowed". */
  allowed: number;
  /** Every other outcome: denials, unavailable, fail-open, replays. */
  other: number;
  /** quotagate_decision_seconds: time spent deciding (the Redis script round trip), and over how many decisions. */
  decisionSeconds: number;
  decisions: number;
  /** Garbage collections (every kind), and those that paused the process for 10 ms or more. */
  gcs: number;
  longGcs: number;
}

const SAMPLE =
  /^(quotagate_decisions_total|quotagate_decision_seconds_sum|quotagate_decision_seconds_count|quotagate_process_nodejs_gc_duration_seconds_count|quotagate_process_nodejs_gc_duration_seconds_bucket)\{([^}]*)\} (\S+)$/gm;
/** The GC histogram's bucket (prom-client's default buckets) below which a pause counts as short. */
const SHORT_GC_BUCKET = 'le="0.01"';

export async function scrapeGateway(gatewayUrl: string): Promise<GatewayCounters> {
  const response = await fetch(`${gatewayUrl}/metrics`);
  if (!response.ok) throw new Error(`GET ${gatewayUrl}/metrics answered ${response.status}`);
  const c: GatewayCounters = { allowed: 0, other: 0, decisionSeconds: 0, decisions: 0, gcs: 0, longGcs: 0 };
  let shortGcs = 0;
  for (const [, name, labels, raw] of (await response.text()).matchAll(SAMPLE)) {
    const value = Number(raw);
    if (name === 'quotagate_decision_seconds_sum') c.decisionSeconds += value;
    else if (name === 'quotagate_decision_seconds_count') c.decisions += value;
    else if (name === 'quotagate_process_nodejs_gc_duration_seconds_count') c.gcs += value;
    else if (name === 'quotagate_process_nodejs_gc_duration_seconds_bucket') shortGcs += labels!.includes(SHORT_GC_BUCKET) ? value : 0;
    else if (labels!.includes('outcome="allowed"')) c.allowed += value;
    else c.other += value;
  }
  c.longGcs = c.gcs - shortGcs;
  return c;
}

export const countersDelta = (before: GatewayCounters, after: GatewayCounters): GatewayCounters => ({
  allowed: after.allowed - before.allowed,
  other: after.other - before.other,
  decisionSeconds: after.decisionSeconds - before.decisionSeconds,
  decisions: after.decisions - before.decisions,
  gcs: after.gcs - before.gcs,
  longGcs: after.longGcs - before.longGcs,
});
