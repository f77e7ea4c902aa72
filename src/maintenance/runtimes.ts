/**
 * Dead runtimes: remove the rows of `awa.runtime_instances` whose runtime stopped reporting.
 * A runtime counts as dead when unseen (no heartbeat) for `stalenessMs` and for three of its
 * own heartbeat intervals, so a runtime with a slower heartbeat than this one is never taken
 * for dead. This client's own row always stays; a live runtime whose row went lists itself
 * again at its next heartbeat.
 * @module
 */
import { ValidationError } from "../errors.ts";
import { checkOptionalObject, DAY_MS, HOUR_MS, intIn } from "../runtime/options.ts";
import { sweepRuntimes } from "../storage/maintenance.ts";
import type { MaintenanceService } from "./service.ts";

/** Options of the dead-runtime sweep, under `maintenance.runtimes`. Unknown keys are rejected. */
export interface RuntimesOptions {
  /** Time between sweeps, in ms, 1 to 1 hour. Default 60 000. */
  intervalMs?: number;
  /**
   * A runtime unseen this long, in ms, is taken for dead. At least 3 × `heartbeat.intervalMs`,
   * at most 1 day. Default 300 000 (5 min).
   */
  stalenessMs?: number;
}

/** Counters of the sweep. */
export interface RuntimesStats {
  /** Rows of dead runtimes removed from `awa.runtime_instances`. */
  runtimesRemoved: number;
}

export const runtimes: MaintenanceService<
  "runtimes",
  RuntimesOptions,
  Required<RuntimesOptions>,
  RuntimesStats
> = {
  name: "runtimes",
  resolve(options, field, client) {
    const o = checkOptionalObject(options, field, ["intervalMs", "stalenessMs"]);
    const out = {
      intervalMs: intIn(o.intervalMs, `${field}.intervalMs`, 1, HOUR_MS, 60_000),
      stalenessMs: intIn(o.stalenessMs, `${field}.stalenessMs`, 1, DAY_MS, 300_000),
    };
    if (out.stalenessMs < 3 * client.heartbeat.intervalMs) {
      throw new ValidationError(
        `${field}.stalenessMs`,
        "must be at least 3 × heartbeat.intervalMs, or live runtimes would be removed",
      );
    }
    return out;
  },
  newStats: () => ({ runtimesRemoved: 0 }),
  async tick(ctx, options, stats) {
    stats.runtimesRemoved += await sweepRuntimes(
      ctx.store,
      ctx.instanceId,
      options.stalenessMs / 1000,
    );
  },
};
