/**
 * Typed builders for follow-ups and flow nodes: they tie the args to the job definition's type.
 * @module
 */
import type { JobDefinition } from "../job.ts";
import type { Dependency, FlowNode, FollowUp, NodeOptions } from "./types.ts";

/** A follow-up job: `followUp(sendReceipt, { orderId })`. Validated when the parent is inserted. */
export function followUp<A>(job: JobDefinition<A>, args: A, options?: NodeOptions): FollowUp<A> {
  return options === undefined ? { job, args } : { job, args, options };
}

/** Options of {@link flowNode}: the parents and where the job goes. */
export interface FlowNodeOptions extends NodeOptions {
  /** Parent node ids (or edges with their own failure policy). */
  dependsOn?: readonly (string | Dependency)[];
}

/** A flow node: `flowNode("resize", resize, { size: 64 }, { dependsOn: ["fetch"] })`. */
export function flowNode<A>(
  id: string,
  job: JobDefinition<A>,
  args: A,
  options: FlowNodeOptions = {},
): FlowNode<A> {
  const { dependsOn, ...rest } = options;
  return {
    id,
    job,
    args,
    ...(dependsOn === undefined ? {} : { dependsOn }),
    ...(Object.keys(rest).length === 0 ? {} : { options: rest }),
  };
}
