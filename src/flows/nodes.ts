/**
 * Validation of one flow node, follow-up or batch member into the JSON shape `insert_flow`
 * takes. Writes nothing.
 * @module
 */
import { ValidationError } from "../errors.ts";
import type { JobDefinition } from "../job.ts";
import { normalizeJob } from "../producer/options.ts";
import { checkOptions, describe } from "../validate.ts";
import type { FailurePolicy, FollowUp, NodeOptions } from "./types.ts";

/** Parent edge as `insert_flow` stores it. */
export interface EdgeSpec {
  key: string;
  satisfied_by: string[];
  otherwise: "fail" | "cancel" | "skip";
}

/** One node as `insert_flow` takes it. */
export interface NodeSpec {
  key: string;
  kind: string;
  args: unknown;
  queue: string;
  priority: number;
  max_attempts: number;
  run_at: string | null;
  tags: string[];
  metadata: Record<string, unknown>;
  inputs?: "parents" | "counts";
  parents: EdgeSpec[];
  job_id?: number;
}

const NODE_OPTION_KEYS: ReadonlySet<string> = new Set([
  "queue",
  "priority",
  "maxAttempts",
  "runAt",
  "tags",
  "metadata",
]);

const POLICIES: readonly FailurePolicy[] = ["fail", "cancel", "continue"];

/** Validate a failure policy. */
export function checkPolicy(v: unknown, field: string): FailurePolicy {
  if (!POLICIES.includes(v as FailurePolicy)) {
    throw new ValidationError(field, `must be "fail", "cancel" or "continue", got ${describe(v)}`);
  }
  return v as FailurePolicy;
}

/** The edge of policy `policy`: which parent states let the child go on, and what otherwise. */
export function policyEdge(key: string, policy: FailurePolicy): EdgeSpec {
  return policy === "continue"
    ? { key, satisfied_by: ["completed", "failed", "cancelled", "skipped"], otherwise: "fail" }
    : { key, satisfied_by: ["completed"], otherwise: policy };
}

/** Validate a job with node options (no uniqueness, no ordering key) into a node body. */
export function nodeBody<A>(
  job: JobDefinition<A>,
  args: A,
  options: NodeOptions | undefined,
  field: string,
): Omit<NodeSpec, "key" | "parents"> {
  const opts = checkOptions<NodeOptions>(options ?? {}, `${field}.options`, NODE_OPTION_KEYS);
  const n = normalizeJob(job, args, opts, field);
  return {
    kind: n.kind,
    args: JSON.parse(n.argsJson),
    queue: n.queue,
    priority: n.priority,
    max_attempts: n.maxAttempts,
    run_at: n.runAt?.toISOString() ?? null,
    tags: n.tags,
    metadata: JSON.parse(n.metadataJson),
  };
}

/** Validate a `followUp(...)` value. */
export function checkFollowUp(
  // deno-lint-ignore no-explicit-any
  f: FollowUp<any>,
  field: string,
): Omit<NodeSpec, "key" | "parents"> {
  if (typeof f !== "object" || f === null || Array.isArray(f)) {
    throw new ValidationError(field, `must be made with followUp(job, args), got ${describe(f)}`);
  }
  checkOptions(f, field, new Set(["job", "args", "options"]));
  return nodeBody(f.job, f.args, f.options, field);
}
