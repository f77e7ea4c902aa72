/**
 * Callback timeouts: the leader ends attempts whose callback deadline passed (parked jobs and
 * sequential waits alike) through `awa.expire_callbacks`. Each becomes retryable with the
 * usual backoff, or failed / DLQ with reason `callback_timeout` on its last attempt, and is
 * reported as a `rescued` event (reason `callback`) by the leading process. A sequential
 * waiter's process gets the rescue notice and aborts its handler with `JobRescuedError`.
 * @module
 */
import { checkOptionalObject, DAY_MS, intIn } from "../runtime/options.ts";
import { expireCallbacks } from "../storage/callbacks.ts";
import type { MaintenanceService } from "./service.ts";

/** Options of the timeout scan, under `maintenance.callback_timeouts`. Unknown keys are rejected. */
export interface CallbackTimeoutsOptions {
  /**
   * Time between scans, in ms, 100 to 1 day. Default 5 000: a timed-out callback is acted on
   * within about 5 s, at the cost of one index probe per scan when nothing expired.
   */
  intervalMs?: number;
}

/** Options resolved. */
export interface ResolvedCallbackTimeouts {
  intervalMs: number;
  /** `dlqEnabledByDefault`: where timed-out jobs out of attempts go. */
  dlqDefault: boolean;
}

/** Counters of the timeout scan. */
export interface CallbackTimeoutsStats {
  /** Attempts ended because their callback timed out. */
  callbacksTimedOut: number;
}

/** Attempts one statement ends at most; a scan repeats while batches come back full. */
const BATCH = 500;
/** Statements per scan at most, so one tick stays short under a burst of expiries. */
const MAX_ROUNDS = 20;

export const callbackTimeouts: MaintenanceService<
  "callback_timeouts",
  CallbackTimeoutsOptions,
  ResolvedCallbackTimeouts,
  CallbackTimeoutsStats
> = {
  name: "callback_timeouts",
  resolve(options, field, client) {
    const o = checkOptionalObject(options, field, ["intervalMs"]);
    return {
      intervalMs: intIn(o.intervalMs, `${field}.intervalMs`, 100, DAY_MS, 5_000),
      dlqDefault: client.dlqDefault,
    };
  },
  newStats: () => ({ callbacksTimedOut: 0 }),
  async tick(ctx, options, stats) {
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const rows = await expireCallbacks(ctx.store, BATCH, options.dlqDefault);
      stats.callbacksTimedOut += rows.length;
      for (const r of rows) {
        ctx.emit("rescued", {
          jobId: Number(r.job_id),
          runLease: Number(r.run_lease),
          reason: "callback",
          state: r.state,
        });
      }
      if (rows.length < BATCH) return;
    }
  },
};
