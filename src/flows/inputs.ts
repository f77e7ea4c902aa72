/**
 * What a flow node, follow-up or batch callback receives from the jobs before it. The release
 * writes it into the job's metadata under reserved keys; this module reads it back typed.
 * @module
 */
import type { BatchCounts, ParentOutcome } from "./types.ts";

/** Inputs of a job released by a flow, a follow-up trigger or a batch. */
export interface FlowInputs {
  /** The flow (or batch, or follow-up group) id; null for a job outside any flow. */
  flowId: number | null;
  /** This job's node id in the flow; follow-ups are `onComplete.0`, `onFailure.1`, …. */
  node: string | null;
  /**
   * Every parent's outcome by node id. A follow-up's parent is under `parent`. Empty for roots
   * and batch callbacks.
   */
  parents: Record<string, ParentOutcome>;
  /** For a batch callback: the members' counts; otherwise null. */
  batch: BatchCounts | null;
}

type Meta = Record<string, unknown>;

function obj(v: unknown): Meta | null {
  return typeof v === "object" && v !== null && !Array.isArray(v) ? v as Meta : null;
}

/**
 * Read the flow inputs of a job as its handler sees it (`flowInputs(job).parents.parent.result`
 * in a follow-up). Never throws: a job outside any flow yields empty inputs.
 */
export function flowInputs(job: { metadata: Record<string, unknown> }): FlowInputs {
  const meta = obj(job?.metadata) ?? {};
  const flow = obj(meta["awa:flow"]);
  const parents: Record<string, ParentOutcome> = {};
  for (const [key, v] of Object.entries(obj(meta["awa:parents"]) ?? {})) {
    const p = obj(v);
    if (p === null) continue;
    parents[key] = {
      jobId: Number(p.job_id),
      state: p.state as ParentOutcome["state"],
      result: p.result ?? null,
    };
  }
  const b = obj(meta["awa:batch"]);
  return {
    flowId: flow === null ? null : Number(flow.id),
    node: flow === null ? null : String(flow.node),
    parents,
    batch: b === null ? null : {
      id: Number(b.id),
      total: Number(b.total),
      completed: Number(b.completed),
      failed: Number(b.failed),
      cancelled: Number(b.cancelled),
    },
  };
}
