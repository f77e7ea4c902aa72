/**
 * Expired cache entries: delete the rows of `cache_entries` whose TTL has passed, in batches of
 * `batchSize`, at most `maxBatches` per run, so one run never holds a long transaction nor
 * leaves a large pile of dead tuples at once (autovacuum reclaims them between runs). Reads
 * ignore expired rows anyway, so this only bounds the table's size. It runs on the leader of a
 * Client's maintenance: with no Client running, expired rows stay (unseen) until one runs.
 * @module
 */
import { checkOptionalObject, HOUR_MS, intIn } from "../runtime/options.ts";
import { sweepExpiredCache } from "../storage/cache.ts";
import type { MaintenanceService } from "./service.ts";

/** Options of the cache sweep, under `maintenance.cache`. Unknown keys are rejected. */
export interface CacheSweepOptions {
  /** Time between runs, in ms, 1 to 1 hour. Default 60 000. */
  intervalMs?: number;
  /** Rows deleted per statement, 1 to 100 000. Default 1 000. */
  batchSize?: number;
  /** Statements per run at most, 1 to 1 000. Default 10. */
  maxBatches?: number;
}

/** Counters of the cache sweep. */
export interface CacheSweepStats {
  /** Expired cache rows deleted. */
  cacheRowsSwept: number;
  /** Delete statements run (one per batch). */
  cacheSweepBatches: number;
}

export const cacheSweep: MaintenanceService<
  "cache",
  CacheSweepOptions,
  Required<CacheSweepOptions>,
  CacheSweepStats
> = {
  name: "cache",
  resolve(options, field) {
    const o = checkOptionalObject(options, field, ["intervalMs", "batchSize", "maxBatches"]);
    return {
      intervalMs: intIn(o.intervalMs, `${field}.intervalMs`, 1, HOUR_MS, 60_000),
      batchSize: intIn(o.batchSize, `${field}.batchSize`, 1, 100_000, 1000),
      maxBatches: intIn(o.maxBatches, `${field}.maxBatches`, 1, 1000, 10),
    };
  },
  newStats: () => ({ cacheRowsSwept: 0, cacheSweepBatches: 0 }),
  async tick(ctx, options, stats) {
    for (let i = 0; i < options.maxBatches; i++) {
      const n = await sweepExpiredCache(ctx.store, options.batchSize);
      stats.cacheSweepBatches++;
      stats.cacheRowsSwept += n;
      if (n < options.batchSize) return;
    }
  },
};
