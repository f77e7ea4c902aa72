/**
 * Flow retention: deletes flows (graphs, batches, follow-up sets) whose every node is final and
 * finished longer ago than the completed-job retention, with their nodes, edges and gates, in
 * bounded batches. Their jobs' results and history are gone by then; without this the flow
 * tables would only grow.
 * @module
 */
import { checkOptionalObject, HOUR_MS, intIn } from "../runtime/options.ts";
import { pruneFinishedFlows } from "../storage/flows.ts";
import type { MaintenanceService } from "./service.ts";

/** Options of flow retention, under `maintenance.flow_prune`. Unknown keys are rejected. */
export interface FlowPruneOptions {
  /** Time between runs, in ms, 1 000 to 1 hour. Default 60 000. */
  intervalMs?: number;
  /** Flows deleted per statement, 1 to 10 000. Default 500. */
  batchSize?: number;
  /** Statements per run, 1 to 1 000 (a run stops early once a batch comes up short). Default 10. */
  maxBatches?: number;
}

/** Counters of flow retention. */
export interface FlowPruneStats {
  /** Finished flows deleted. */
  flowsPruned: number;
}

export const flowPrune: MaintenanceService<
  "flow_prune",
  FlowPruneOptions,
  Required<FlowPruneOptions>,
  FlowPruneStats
> = {
  name: "flow_prune",
  resolve(options, field) {
    const o = checkOptionalObject(options, field, ["intervalMs", "batchSize", "maxBatches"]);
    return {
      intervalMs: intIn(o.intervalMs, `${field}.intervalMs`, 1000, HOUR_MS, 60_000),
      batchSize: intIn(o.batchSize, `${field}.batchSize`, 1, 10_000, 500),
      maxBatches: intIn(o.maxBatches, `${field}.maxBatches`, 1, 1000, 10),
    };
  },
  newStats: () => ({ flowsPruned: 0 }),
  async tick(ctx, options, stats) {
    for (let i = 0; i < options.maxBatches; i++) {
      const n = await pruneFinishedFlows(ctx.store, options.batchSize);
      stats.flowsPruned += n;
      if (n < options.batchSize) break;
    }
  },
};
