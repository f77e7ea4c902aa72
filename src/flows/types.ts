/**
 * Public shapes of follow-up jobs, flows and batches (docs/flows.md).
 * @module
 */
import type { JobDefinition } from "../job.ts";

/**
 * What a dependent does when a parent ends without completing (failed for good, or cancelled):
 * `fail` — it fails without running (and so do its own `fail` dependents); `cancel` — it and
 * every node of the flow not finished yet are cancelled; `continue` — it runs once all its
 * parents have finished, whatever their outcome.
 */
export type FailurePolicy = "fail" | "cancel" | "continue";

/** Where a follow-up, flow node or batch member goes; unset fields follow the job definition. */
export interface NodeOptions {
  /** Queue name. Default: the definition's queue, else `"default"`. */
  queue?: string;
  /** 1 (most urgent) to 4. Default 2. */
  priority?: number;
  /** 1 to 1000. Default 25. */
  maxAttempts?: number;
  /** Not before this time: a node released earlier waits in the scheduled plane until then. */
  runAt?: Date;
  /** Up to 20 tags. */
  tags?: string[];
  /** JSON object stored with the job; keys starting with `awa:` are reserved. */
  metadata?: Record<string, unknown>;
}

/** A job to enqueue when another job finishes; build it with `followUp`. */
export interface FollowUp<A> {
  /** Definition of the job to enqueue. */
  readonly job: JobDefinition<A>;
  /** Its args (fixed when the parent is inserted; the parent's result travels in metadata). */
  readonly args: A;
  /** Where it goes. */
  readonly options?: NodeOptions;
}

/** A follow-up of any args type, as the lists of {@link FollowUps} hold them. */
// deno-lint-ignore no-explicit-any
export type AnyFollowUp = FollowUp<any>;

/**
 * Jobs to enqueue, in the same transaction, when a job completes (`onComplete`), fails for good
 * — out of attempts, a terminal error, or moved to the DLQ by its failure (`onFailure`) — or is
 * cancelled (`onCancel`). At most 100 per trigger.
 */
export interface FollowUps {
  /** Enqueued when the job completes. */
  onComplete?: readonly AnyFollowUp[];
  /** Enqueued when the job fails for good. */
  onFailure?: readonly AnyFollowUp[];
  /** Enqueued when the job is cancelled (by its handler, an operator, or its flow). */
  onCancel?: readonly AnyFollowUp[];
}

/** One parent edge with its own failure policy. */
export interface Dependency {
  /** Id of the parent node. */
  node: string;
  /** Overrides the flow's `failurePolicy` for this edge. */
  onFailure?: FailurePolicy;
}

/** One node of a flow; build it with `flowNode`. */
export interface FlowNode<A> {
  /** Node id, unique in its flow: 1-200 characters of letters, digits, `_ . : -`. */
  readonly id: string;
  /** Definition of the node's job. */
  readonly job: JobDefinition<A>;
  /** Its args. */
  readonly args: A;
  /** Parent nodes: this node runs once all of them completed. */
  readonly dependsOn?: readonly (string | Dependency)[];
  /** Where it goes. */
  readonly options?: NodeOptions;
}

/** A flow: a graph of jobs inserted in one transaction. */
export interface FlowSpec {
  /** A name for operators (1-200 characters). */
  name?: string;
  /** Default policy of every edge. Default `"fail"`. */
  failurePolicy?: FailurePolicy;
  /** The nodes, in any order; at most 10 000. */
  // deno-lint-ignore no-explicit-any
  nodes: readonly FlowNode<any>[];
}

/** What `insertFlow` wrote. */
export interface InsertedFlow {
  /** The flow's id (for `admin.getFlow`, `admin.cancelFlow`). */
  flowId: number;
  /** Job id of every node, by node id. Nodes with parents get their job when released. */
  jobIds: Record<string, number>;
}

/** What `insertBatch` wrote. */
export interface InsertedBatch {
  /** The batch's id; batches are flows of kind `batch` in the admin layer. */
  batchId: number;
  /** Member job ids, in input order. */
  jobIds: number[];
  /** Job id the callback gets when every member has finished. */
  callbackJobId: number;
}

/** A parent's outcome as its dependent sees it. */
export interface ParentOutcome {
  /** The parent's job id. */
  jobId: number;
  /** How it ended: `skipped` is a follow-up that never ran. */
  state: "completed" | "failed" | "cancelled" | "skipped";
  /** Its handler's returned value when completed, else null. */
  result: unknown;
}

/** Counts of a batch's members, handed to its callback. */
export interface BatchCounts {
  /** The batch's id. */
  id: number;
  /** Members in all. */
  total: number;
  /** Members that completed. */
  completed: number;
  /** Members that failed for good. */
  failed: number;
  /** Members that were cancelled. */
  cancelled: number;
}
