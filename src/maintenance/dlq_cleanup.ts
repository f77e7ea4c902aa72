/**
 * Held-job expiry: deletes DLQ jobs and held failures whose retention has passed (each by its
 * queue's retention: DLQ default 30 days, failed follows the completed retention), oldest id
 * first, in bounded batches, releasing the unique claims they held. `dlq_entries` is a plain
 * table that already changes row by row (holds, retries); the batches keep each delete short.
 * @module
 */
import { checkOptionalObject, HOUR_MS, intIn } from "../runtime/options.ts";
import { purgeExpiredHolds } from "../storage/history.ts";
import type { MaintenanceService } from "./service.ts";

/** Options of held-job expiry, under `maintenance.dlq_cleanup`. Unknown keys are rejected. */
export interface DlqCleanupOptions {
  /** Time between runs, in ms, 1 000 to 1 hour. Default 60 000. */
  intervalMs?: number;
  /** Rows deleted per statement, 1 to 100 000. Default 1 000. */
  batchSize?: number;
  /** Statements per run, 1 to 1 000 (a run stops early once a batch comes up short). Default 10. */
  maxBatches?: number;
}

/** Counters of held-job expiry. */
export interface DlqCleanupStats {
  /** Expired DLQ and failed jobs deleted. */
  heldJobsExpired: number;
}

export const dlqCleanup: MaintenanceService<
  "dlq_cleanup",
  DlqCleanupOptions,
  Required<DlqCleanupOptions>,
  DlqCleanupStats
> = {
  name: "dlq_cleanup",
  resolve(options, field) {
    const o = checkOptionalObject(options, field, ["intervalMs", "batchSize", "maxBatches"]);
    return {
      intervalMs: intIn(o.intervalMs, `${field}.intervalMs`, 1000, HOUR_MS, 60_000),
      batchSize: intIn(o.batchSize, `${field}.batchSize`, 1, 100_000, 1000),
      maxBatches: intIn(o.maxBatches, `${field}.maxBatches`, 1, 1000, 10),
    };
  },
  newStats: () => ({ heldJobsExpired: 0 }),
  async tick(ctx, options, stats) {
    for (let i = 0; i < options.maxBatches; i++) {
      const n = await purgeExpiredHolds(ctx.store, options.batchSize);
      stats.heldJobsExpired += n;
      if (n < options.batchSize) break;
    }
  },
};
