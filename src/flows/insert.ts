/**
 * Producers of flows and batches: `insertFlow` enqueues a dependency graph and `insertBatch` N
 * jobs with one callback, each in one statement (inside the caller's transaction when given one).
 * Follow-ups of a single insert are written by `insertFollowUps` next to their parent.
 * @module
 */
import { type Db, toExecutor } from "../db/executor.ts";
import { toDatabaseError } from "../db/classify.ts";
import { FlowGraphError, ValidationError } from "../errors.ts";
import type { JobDefinition } from "../job.ts";
import { mapMissingSchema, requireSchema } from "../migrate.ts";
import { mapInsertError, toId } from "../producer/insert.ts";
import { checkSchema } from "../schema.ts";
import { type InsertedNodeRow, insertFlow as insertFlowRows } from "../storage/flows.ts";
import { storeOf } from "../storage/store.ts";
import { checkOptions, describe } from "../validate.ts";
import { checkFlowName, flowNodes, MAX_FLOW_NODES } from "./graph.ts";
import { checkFollowUp, nodeBody, type NodeSpec } from "./nodes.ts";
import type { FlowSpec, FollowUp, InsertedBatch, InsertedFlow, NodeOptions } from "./types.ts";

/** The schema option of the flow producers. */
export interface FlowInsertOptions {
  /** Awa schema. Default `"awa"`. */
  schema?: string;
}

async function write(
  db: Db,
  schema: string,
  what: string,
  payload: unknown,
): Promise<InsertedNodeRow[]> {
  const ex = toExecutor(db);
  try {
    await requireSchema(ex, schema);
    return await insertFlowRows(storeOf(ex, schema), payload);
  } catch (err) {
    throw toDatabaseError(mapMissingSchema(mapInsertError(err), ex, schema), what);
  }
}

/**
 * Insert a flow: every node with its dependencies, in one statement. Nodes without parents are
 * enqueued now; the others wait outside the queue until their last parent finishes, and are
 * released by that transition. Throws {@link FlowGraphError} (cycle, unknown parent, duplicate
 * id, too many nodes) or {@link ValidationError} before writing anything.
 */
export async function insertFlow(
  db: Db,
  flow: FlowSpec,
  opts: FlowInsertOptions = {},
): Promise<InsertedFlow> {
  const o = checkOptions<FlowInsertOptions>(opts, "opts", new Set(["schema"]));
  const schema = checkSchema(o.schema, "opts.schema");
  const { name, nodes } = flowNodes(flow);
  const rows = await write(db, schema, "insertFlow", { flow_kind: "flow", name, nodes });
  const jobIds: Record<string, number> = {};
  for (const r of rows) jobIds[r.node_key] = toId(r.job_id);
  return { flowId: toId(rows[0].flow_id), jobIds };
}

/** Options of {@link insertBatch}. */
export interface BatchOptions extends NodeOptions, FlowInsertOptions {
  /** The job enqueued once every member has finished; it gets the counts (`flowInputs`). */
  // deno-lint-ignore no-explicit-any
  onFinished: FollowUp<any>;
  /** A name for operators (1-200 characters). */
  name?: string;
}

const BATCH_KEYS: ReadonlySet<string> = new Set([
  "onFinished",
  "name",
  "schema",
  "queue",
  "priority",
  "maxAttempts",
  "runAt",
  "tags",
  "metadata",
]);

/**
 * Insert `argsList.length` jobs of `job` as one batch, plus a callback job that is enqueued when
 * all of them have finished — completed, failed for good or cancelled — with the counts in
 * `flowInputs(job).batch`. One statement; at most 9 999 members.
 */
export async function insertBatch<A>(
  db: Db,
  job: JobDefinition<A>,
  argsList: readonly A[],
  opts: BatchOptions,
): Promise<InsertedBatch> {
  const o = checkOptions<BatchOptions>(opts, "opts", BATCH_KEYS);
  const schema = checkSchema(o.schema, "opts.schema");
  const name = checkFlowName(o.name, "opts.name");
  if (o.onFinished === undefined) {
    throw new ValidationError("opts.onFinished", "is required: followUp(job, args)");
  }
  const callback = checkFollowUp(o.onFinished, "opts.onFinished");
  if (!Array.isArray(argsList) || argsList.length === 0) {
    throw new ValidationError("argsList", `must be a non-empty array, got ${describe(argsList)}`);
  }
  if (argsList.length >= MAX_FLOW_NODES) {
    throw new FlowGraphError(
      "too_large",
      [],
      `${argsList.length} members; a batch holds at most ${MAX_FLOW_NODES - 1}`,
    );
  }
  const { onFinished: _f, name: _n, schema: _s, ...memberOpts } = o;
  const members: NodeSpec[] = argsList.map((args, i) => ({
    key: `member.${i}`,
    ...nodeBody(job, args, memberOpts, `argsList[${i}]`),
    parents: [],
  }));
  const nodes: NodeSpec[] = [...members, {
    key: "callback",
    ...callback,
    inputs: "counts",
    parents: members.map((m) => ({
      key: m.key,
      satisfied_by: ["completed", "failed", "cancelled", "skipped"],
      otherwise: "fail",
    })),
  }];
  const rows = await write(db, schema, "insertBatch", { flow_kind: "batch", name, nodes });
  const ids = new Map(rows.map((r) => [r.node_key, toId(r.job_id)]));
  return {
    batchId: toId(rows[0].flow_id),
    jobIds: members.map((m) => ids.get(m.key)!),
    callbackJobId: ids.get("callback")!,
  };
}
