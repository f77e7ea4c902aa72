/**
 * History upkeep: keeps the hourly partitions of `awa.job_history` created ahead (up to the
 * longest completed retention in use, at most `maxHoursAhead`), and reclaims expired history by
 * dropping whole partitions (never row deletes), releasing the unique claims of the completed
 * jobs in them first. A partition whose table lock is busy is left for the next run.
 * @module
 */
import { checkOptionalObject, HOUR_MS, intIn } from "../runtime/options.ts";
import { dropExpiredHistory, ensureHistoryPartitions } from "../storage/history.ts";
import type { MaintenanceService } from "./service.ts";

/** Options of history upkeep, under `maintenance.history`. Unknown keys are rejected. */
export interface HistoryOptions {
  /** Time between runs, in ms, 1 000 to 1 hour. Default 60 000. */
  intervalMs?: number;
  /**
   * Partitions are created at most this many hours ahead (1 to 8760); history that expires
   * later waits in the default partition until all of it has expired. Default 168 (7 days).
   */
  maxHoursAhead?: number;
  /** Longest wait for a partition's table lock, in ms, 1 to 10 000. Default 100. */
  lockTimeoutMs?: number;
}

/** Counters of history upkeep. */
export interface HistoryStats {
  /** History partitions created. */
  historyPartitionsCreated: number;
  /** Expired history partitions dropped (or the default partition truncated). */
  historyPartitionsDropped: number;
}

export const history: MaintenanceService<
  "history",
  HistoryOptions,
  Required<HistoryOptions>,
  HistoryStats
> = {
  name: "history",
  resolve(options, field) {
    const o = checkOptionalObject(options, field, ["intervalMs", "maxHoursAhead", "lockTimeoutMs"]);
    return {
      intervalMs: intIn(o.intervalMs, `${field}.intervalMs`, 1000, HOUR_MS, 60_000),
      maxHoursAhead: intIn(o.maxHoursAhead, `${field}.maxHoursAhead`, 1, 8760, 168),
      lockTimeoutMs: intIn(o.lockTimeoutMs, `${field}.lockTimeoutMs`, 1, 10_000, 100),
    };
  },
  newStats: () => ({ historyPartitionsCreated: 0, historyPartitionsDropped: 0 }),
  async tick(ctx, options, stats) {
    const timeout = `${options.lockTimeoutMs}ms`;
    stats.historyPartitionsCreated += await ensureHistoryPartitions(
      ctx.store,
      options.maxHoursAhead,
      timeout,
    );
    stats.historyPartitionsDropped += await dropExpiredHistory(ctx.store, timeout);
  },
};
