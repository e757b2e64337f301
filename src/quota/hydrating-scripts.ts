import type { KeySchema } from '../redis/keys.js';
import { hydrateCall } from '../redis/scripts/hydrate.js';
import type { ScriptCall, Scripts } from '../redis/scripts/registry.js';
import { ReplyCode, type Missing } from '../redis/scripts/reply.js';
import { HydrationError } from './errors.js';
import type { Hydrator } from './hydration.js';
import type { Line } from './metric-lines.js';

const MAX_HYDRATION_ATTEMPTS = 3;

/**
 * Runs the engine's scripts: when one answers "needs hydration", loads the missing usage and
 * grants from the ledger, writes them back where still missing, and runs it again.
 */
export class HydratingScripts {
  constructor(
    readonly scripts: Scripts,
    private readonly keys: KeySchema,
    private readonly hydrator: Hydrator,
  ) {}

  /** `call` builds each attempt's call; `lines` are the script's lines, in the order its missing-key indexes count. */
  async run<R extends { code: number }>(subjectId: string, lines: readonly Line[], call: () => ScriptCall<R | Missing>): Promise<Exclude<R, Missing>> {
    for (let attempt = 1; ; attempt++) {
      const reply = await this.scripts.run(call());
      if (reply.code !== ReplyCode.NeedsHydration) return reply as Exclude<R, Missing>;
      if (attempt >= MAX_HYDRATION_ATTEMPTS) throw new HydrationError(`keys of subject "${subjectId}" still missing after ${attempt} hydrations`);
      const missing = reply as Missing;
      await this.hydrate(
        subjectId,
        missing.usage.map((i) => lines[i]!),
        missing.grants.map((i) => lines[i]!),
      );
    }
  }

  private async hydrate(subjectId: string, usage: Line[], grants: Line[]): Promise<void> {
    const data = await this.hydrator.load({
      subjectId,
      usage: usage.map((l) => ({ metric: l.metric, kind: l.kind, periodStart: l.periodStart, periodEnd: l.periodEnd })),
      grants: grants.map((l) => l.metric),
    });
    await this.scripts.run(
      hydrateCall(this.keys, {
        subjectId,
        usage: usage.map((l, i) => ({ metric: l.metric, kind: l.kind, periodStart: l.periodStart, value: data.usage[i] ?? 0, ttlMs: l.ttlMs })),
        grants: grants.map((l) => ({ metric: l.metric, grants: data.grants[l.metric] ?? [] })),
      }),
    );
  }
}
