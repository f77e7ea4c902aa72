/**
 * Operations on flows, batches and follow-up groups, for operators: list them with their node
 * counts, inspect one (the state of every node) and cancel one as a whole. Each takes a database
 * handle, so it also works inside the caller's transaction.
 * @module
 */
import type { Db } from "../db/executor.ts";
import { pgErrorInfo } from "../db/classify.ts";
import { FlowNotFoundError, ValidationError } from "../errors.ts";
import { toId } from "../producer/insert.ts";
import { checkSchema } from "../schema.ts";
import {
  cancelFlow as cancelFlowRow,
  type FlowNodeRow,
  flowNodeRows,
  type FlowRow,
  getFlowRow,
  listFlows as listFlowRows,
} from "../storage/flows.ts";
import { checkInteger, checkOptions, checkText, describe } from "../validate.ts";
import { adminCall } from "./call.ts";

/** Kinds of flows: `flow` (insertFlow), `batch` (insertBatch), `follow_up` (a job's follow-ups). */
export type FlowKind = "flow" | "batch" | "follow_up";

/**
 * A flow's state: `running` while a node waits or its job has not finished; once all have,
 * `cancelled` if it was cancelled, `failed` if a node failed, `cancelled` if one was cancelled,
 * else `completed`.
 */
export type FlowState = "running" | "completed" | "failed" | "cancelled";

/** A flow with the count of its nodes in each state. */
export interface FlowInfo {
  /** The flow's id. */
  id: number;
  /** What created it. */
  kind: FlowKind;
  /** Its name, or null. */
  name: string | null;
  /** Derived state (see {@link FlowState}). */
  state: FlowState;
  /** When it was inserted. */
  createdAt: Date;
  /** When it was cancelled as a whole, or null. */
  cancelledAt: Date | null;
  /** When its last node finished, or null while any runs. */
  finishedAt: Date | null;
  /** Nodes in all. */
  nodeCount: number;
  /** Nodes by state. */
  nodes: {
    waiting: number;
    released: number;
    completed: number;
    failed: number;
    cancelled: number;
    skipped: number;
  };
}

/** One node of a flow. */
export interface FlowNodeInfo {
  /** Node id in the flow (`parent`, `onComplete.0` in follow-up groups; `member.N` in batches). */
  node: string;
  /** The job id of the node (reserved while it waits). */
  jobId: number;
  /**
   * `waiting` (parents unfinished), `released` (its job is queued, scheduled, running or
   * retrying: see `jobState`), or final: completed, failed, cancelled, skipped.
   */
  state: "waiting" | "released" | "completed" | "failed" | "cancelled" | "skipped";
  /** For a released node: the job's state now (available, running, retryable, …). */
  jobState: string | null;
  /** Job kind. */
  kind: string;
  /** The handler's result once completed, else null. */
  result: unknown;
  /** When it reached its final state, or null. */
  finishedAt: Date | null;
  /** Parent node ids. */
  dependsOn: string[];
}

/** A flow and all its nodes, parents before children. */
export interface FlowDetail extends FlowInfo {
  /** Every node. */
  nodeList: FlowNodeInfo[];
}

function flowState(r: FlowRow): FlowState {
  if (r.waiting > 0 || r.released > 0) return "running";
  if (r.cancelled_at !== null) return "cancelled";
  if (r.failed > 0) return "failed";
  if (r.cancelled > 0) return "cancelled";
  return "completed";
}

function toInfo(r: FlowRow): FlowInfo {
  return {
    id: toId(r.flow_id),
    kind: r.flow_kind as FlowKind,
    name: r.name,
    state: flowState(r),
    createdAt: new Date(r.created_at),
    cancelledAt: r.cancelled_at === null ? null : new Date(r.cancelled_at),
    finishedAt: r.finished_at === null ? null : new Date(r.finished_at),
    nodeCount: Number(r.node_count),
    nodes: {
      waiting: r.waiting,
      released: r.released,
      completed: r.completed,
      failed: r.failed,
      cancelled: r.cancelled,
      skipped: r.skipped,
    },
  };
}

function toNode(r: FlowNodeRow): FlowNodeInfo {
  return {
    node: r.node_key,
    jobId: toId(r.job_id),
    state: r.state as FlowNodeInfo["state"],
    jobState: r.job_state,
    kind: r.kind,
    result: r.result ?? null,
    finishedAt: r.finished_at === null ? null : new Date(r.finished_at),
    dependsOn: r.parents,
  };
}

/** Options of {@link listFlows}. */
export interface ListFlowsOptions {
  /** Only flows of this kind. */
  kind?: FlowKind;
  /** Keyset paging: flows with a smaller id than this. */
  beforeId?: number;
  /** 1 to 1000. Default 50. */
  limit?: number;
  /** Awa schema. Default `"awa"`. */
  schema?: string;
}

const KINDS: readonly FlowKind[] = ["flow", "batch", "follow_up"];

function checkFlowId(id: unknown, field = "flowId"): number {
  return checkInteger(id, field, 1, Number.MAX_SAFE_INTEGER);
}

/** Flows, newest first, with their node counts. */
export function listFlows(db: Db, opts: ListFlowsOptions = {}): Promise<FlowInfo[]> {
  const o = checkOptions<ListFlowsOptions>(
    opts,
    "opts",
    new Set(["kind", "beforeId", "limit", "schema"]),
  );
  const schema = checkSchema(o.schema, "opts.schema");
  if (o.kind !== undefined && !KINDS.includes(o.kind)) {
    throw new ValidationError(
      "opts.kind",
      `must be flow, batch or follow_up, got ${describe(o.kind)}`,
    );
  }
  const beforeId = o.beforeId === undefined ? null : checkFlowId(o.beforeId, "opts.beforeId");
  const limit = o.limit === undefined ? 50 : checkInteger(o.limit, "opts.limit", 1, 1000);
  return adminCall(
    db,
    schema,
    "listFlows",
    async (store) =>
      (await listFlowRows(store, { kind: o.kind ?? null, beforeId, limit })).map(toInfo),
  );
}

/** Options of the single-flow operations. */
export interface FlowAdminOptions {
  /** Awa schema. Default `"awa"`. */
  schema?: string;
}

/** One flow with every node; throws {@link FlowNotFoundError} for an unknown id. */
export function getFlow(db: Db, flowId: number, opts: FlowAdminOptions = {}): Promise<FlowDetail> {
  const id = checkFlowId(flowId);
  const o = checkOptions<FlowAdminOptions>(opts, "opts", new Set(["schema"]));
  const schema = checkSchema(o.schema, "opts.schema");
  return adminCall(db, schema, "getFlow", async (store) => {
    const row = await getFlowRow(store, id);
    if (row === null) throw new FlowNotFoundError(id);
    return { ...toInfo(row), nodeList: (await flowNodeRows(store, id)).map(toNode) };
  });
}

/** Options of {@link cancelFlow}. */
export interface CancelFlowOptions extends FlowAdminOptions {
  /** Recorded in each cancelled job's errors. Default `"flow cancelled by operator"`. */
  reason?: string;
}

/**
 * Cancel a flow as a whole: no node of it is released any more; waiting nodes are cancelled,
 * and queued, scheduled and running jobs are cancelled where they are (a running handler sees
 * its signal abort). A job that is finishing at that very moment keeps its outcome, and the nodes
 * after it are cancelled. Resolves to the number of nodes this call cancelled (0 when the flow was
 * cancelled before); throws {@link FlowNotFoundError} for an unknown id.
 */
export async function cancelFlow(
  db: Db,
  flowId: number,
  opts: CancelFlowOptions = {},
): Promise<number> {
  const id = checkFlowId(flowId);
  const o = checkOptions<CancelFlowOptions>(opts, "opts", new Set(["schema", "reason"]));
  const schema = checkSchema(o.schema, "opts.schema");
  const reason = o.reason === undefined
    ? "flow cancelled by operator"
    : checkText(o.reason, "opts.reason", 1000);
  // A finalizer of one of the flow's jobs takes node rows before the flow row; this takes them
  // after it. Postgres breaks such a rare cycle by aborting one side: retry then.
  for (let attempt = 1;; attempt++) {
    try {
      return await adminCall(db, schema, "cancelFlow", async (store) => {
        if (await getFlowRow(store, id) === null) throw new FlowNotFoundError(id);
        return await cancelFlowRow(store, id, reason);
      }, (err) => err);
    } catch (err) {
      if (attempt < 5 && pgErrorInfo((err as { cause?: unknown }).cause ?? err).code === "40P01") {
        continue;
      }
      throw err;
    }
  }
}
