import type { MetricKind } from '../config/policy.js';

/** A grant as the ledger knows it. */
export interface GrantBalance {
  id: string;
  remaining: number;
  /** ms since epoch; null = never expires. */
  expiresAt: number | null;
}

export interface HydrationRequest {
  subjectId: string;
  /** Usage values to load: a counter's value in one period, or a gauge's level. */
  usage: { metric: string; kind: MetricKind; periodStart: number | null; periodEnd: number | null }[];
  /** Metrics whose grants to load. */
  grants: string[];
}

export interface HydrationData {
  /** Aligned with `request.usage`; 0 where the ledger has nothing. */
  usage: number[];
  /** Per requested metric, its unrevoked grants (an absent metric means none). */
  grants: Record<string, GrantBalance[]>;
}

/**
 * Loads what Redis lost from the durable ledger (Postgres). The engine calls it when a
 * script answers "needs hydration", writes the values back with NX semantics, and retries:
 * a lost Redis never hands out fresh quota.
 */
export interface Hydrator {
  load(request: HydrationRequest): Promise<HydrationData>;
}
