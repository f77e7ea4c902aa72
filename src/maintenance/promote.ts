/**
 * Promotion: scheduled and retryable jobs whose time has come become available. Runs often
 * (every 250 ms by default), since a due job waits for it.
 * @module
 */
import { checkOptionalObject, HOUR_MS, intIn } from "../runtime/options.ts";
import { promoteDue } from "../storage/maintenance.ts";
import type { Store } from "../storage/store.ts";
import type { MaintenanceService } from "./service.ts";

/** Options of promotion, under `maintenance.promote`. Unknown keys are rejected. */
export interface PromoteOptions {
  /** Time between promotion runs, in ms, 1 to 1 hour. Default 250. */
  intervalMs?: number;
}

/** Counters of promotion. */
export interface PromoteStats {
  /** Jobs promoted from scheduled or retryable to available. */
  promoted: number;
}

/** Jobs one statement promotes at most. */
const BATCH = 4096;
/** Statements one run sends at most: a backlog is worked off over a few runs, not one. */
const MAX_ROUNDS = 32;

/** Promote due jobs, repeating while full batches come back (bounded); returns how many. */
export async function promoteAllDue(store: Store): Promise<number> {
  let total = 0;
  for (let i = 0; i < MAX_ROUNDS; i++) {
    const n = await promoteDue(store, BATCH);
    total += n;
    if (n < BATCH) break;
  }
  return total;
}

export const promote: MaintenanceService<
  "promote",
  PromoteOptions,
  Required<PromoteOptions>,
  PromoteStats
> = {
  name: "promote",
  resolve(options, field) {
    const o = checkOptionalObject(options, field, ["intervalMs"]);
    return { intervalMs: intIn(o.intervalMs, `${field}.intervalMs`, 1, HOUR_MS, 250) };
  },
  newStats: () => ({ promoted: 0 }),
  async tick(ctx, _options, stats) {
    stats.promoted += await promoteAllDue(ctx.store);
  },
};
