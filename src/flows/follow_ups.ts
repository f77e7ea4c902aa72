/**
 * Follow-up jobs of a single insert: validated from the job definition's `followUps` and the
 * insert's own, and written as a `follow_up` flow whose root is the job just inserted, in the
 * same transaction.
 * @module
 */
import { ValidationError } from "../errors.ts";
import { insertFlow as insertFlowRows } from "../storage/flows.ts";
import type { Store } from "../storage/store.ts";
import { checkOptions } from "../validate.ts";
import { checkFollowUp, type NodeSpec } from "./nodes.ts";
import type { FollowUps } from "./types.ts";

/** Most follow-ups per trigger of one job. */
export const MAX_FOLLOW_UPS = 100;

const TRIGGERS = [
  ["onComplete", "completed"],
  ["onFailure", "failed"],
  ["onCancel", "cancelled"],
] as const;

/**
 * The follow-up nodes of a job, from its definition's `followUps` and the insert's own (both
 * apply), validated; null when there are none. Writes nothing.
 */
export function followUpNodes(
  fromDefinition: FollowUps | undefined,
  fromInsert: FollowUps | undefined,
): NodeSpec[] | null {
  const nodes: NodeSpec[] = [];
  for (const [source, given] of [["job.defaults", fromDefinition], ["opts", fromInsert]] as const) {
    if (given === undefined) continue;
    const f = checkOptions<FollowUps>(
      given,
      `${source}.followUps`,
      new Set(TRIGGERS.map(([t]) => t)),
    );
    for (const [trigger, state] of TRIGGERS) {
      const list = f[trigger];
      if (list === undefined) continue;
      const field = `${source}.followUps.${trigger}`;
      if (!Array.isArray(list) || list.length > MAX_FOLLOW_UPS) {
        throw new ValidationError(
          field,
          `must be an array of at most ${MAX_FOLLOW_UPS} followUp()`,
        );
      }
      list.forEach((fu, i) => {
        nodes.push({
          key: `${trigger}.${nodes.filter((n) => n.key.startsWith(trigger + ".")).length}`,
          ...checkFollowUp(fu, `${field}[${i}]`),
          parents: [{ key: "parent", satisfied_by: [state], otherwise: "skip" }],
        });
      });
    }
  }
  return nodes.length === 0 ? null : nodes;
}

/** Write the follow-ups of job `parentId`, inserted earlier in the same transaction. */
export async function insertFollowUps(
  store: Store,
  parentId: number,
  kind: string,
  nodes: NodeSpec[],
): Promise<void> {
  await insertFlowRows(store, {
    flow_kind: "follow_up",
    name: null,
    nodes: [
      {
        key: "parent",
        kind,
        job_id: parentId,
        parents: [],
      },
      ...nodes,
    ],
  });
}
