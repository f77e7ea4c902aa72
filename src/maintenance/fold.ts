/**
 * Fold: fold terminal counts into the rollup and trim the ledger they came from. Skipped while
 * some session pins the MVCC horizon, when trimming would only leave dead rows behind.
 * @module
 */
import { checkOptionalObject, DAY_MS, intIn } from "../runtime/options.ts";
import { foldAndTrim, horizonPinned } from "../storage/maintenance.ts";
import type { MaintenanceService } from "./service.ts";

/** Options of the fold, under `maintenance.fold`. Unknown keys are rejected. */
export interface FoldOptions {
  /** Time between folds, in ms, 1 to 1 day. Default 30 000. */
  intervalMs?: number;
}

/** Counters of the fold. */
export interface FoldStats {
  /** Folds run. */
  folds: number;
  /** Folds skipped because a session pinned the horizon. */
  foldsSkipped: number;
}

export const fold: MaintenanceService<"fold", FoldOptions, Required<FoldOptions>, FoldStats> = {
  name: "fold",
  resolve(options, field) {
    const o = checkOptionalObject(options, field, ["intervalMs"]);
    return { intervalMs: intIn(o.intervalMs, `${field}.intervalMs`, 1, DAY_MS, 30_000) };
  },
  newStats: () => ({ folds: 0, foldsSkipped: 0 }),
  async tick(ctx, _options, stats) {
    if (await horizonPinned(ctx.store)) {
      stats.foldsSkipped++;
      return;
    }
    await foldAndTrim(ctx.store);
    stats.folds++;
  },
};
