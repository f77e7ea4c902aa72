/**
 * Validation of a flow graph: node ids, duplicates, unknown parents, cycles and size limits,
 * then the nodes in dependency order (parents first), as `insert_flow` needs them.
 * @module
 */
import { FlowGraphError, ValidationError } from "../errors.ts";
import { NAME_RE } from "../validate.ts";
import { checkOptions, describe } from "../validate.ts";
import { checkPolicy, type EdgeSpec, nodeBody, type NodeSpec, policyEdge } from "./nodes.ts";
import type { Dependency, FailurePolicy, FlowNode, FlowSpec } from "./types.ts";

/** Most nodes in one flow or batch (members and callback included). */
export const MAX_FLOW_NODES = 10_000;

const SPEC_KEYS: ReadonlySet<string> = new Set(["name", "failurePolicy", "nodes"]);
const NODE_KEYS: ReadonlySet<string> = new Set(["id", "job", "args", "dependsOn", "options"]);
const DEP_KEYS: ReadonlySet<string> = new Set(["node", "onFailure"]);

/** Validate a node id. */
export function checkNodeId(id: unknown, field: string): string {
  if (typeof id !== "string" || id.length === 0 || id.length > 200 || !NAME_RE.test(id)) {
    throw new ValidationError(
      field,
      `must be 1-200 characters of letters, digits, _ . : - , got ${describe(id)}`,
    );
  }
  return id;
}

/** Validate a flow or batch name. */
export function checkFlowName(name: unknown, field: string): string | null {
  if (name === undefined) return null;
  if (typeof name !== "string" || name.length === 0 || name.length > 200) {
    throw new ValidationError(field, `must be a string of 1-200 characters, got ${describe(name)}`);
  }
  return name;
}

/** The nodes of `spec`, validated, in dependency order. Writes nothing. */
export function flowNodes(spec: FlowSpec): { name: string | null; nodes: NodeSpec[] } {
  const s = checkOptions<FlowSpec>(spec, "flow", SPEC_KEYS);
  const name = checkFlowName(s.name, "flow.name");
  const policy: FailurePolicy = s.failurePolicy === undefined
    ? "fail"
    : checkPolicy(s.failurePolicy, "flow.failurePolicy");
  if (!Array.isArray(s.nodes) || s.nodes.length === 0) {
    throw new ValidationError("flow.nodes", "must be a non-empty array of flowNode(...)");
  }
  if (s.nodes.length > MAX_FLOW_NODES) {
    throw new FlowGraphError(
      "too_large",
      [],
      `${s.nodes.length} nodes; a flow holds at most ${MAX_FLOW_NODES}`,
    );
  }
  const byId = new Map<string, NodeSpec>();
  const order: string[] = [];
  for (let i = 0; i < s.nodes.length; i++) {
    const field = `flow.nodes[${i}]`;
    // deno-lint-ignore no-explicit-any
    const node = checkOptions<FlowNode<any>>(s.nodes[i], field, NODE_KEYS);
    const id = checkNodeId(node.id, `${field}.id`);
    if (byId.has(id)) {
      throw new FlowGraphError("duplicate_node", [id], `two nodes have the id "${id}"`);
    }
    const deps = node.dependsOn ?? [];
    if (!Array.isArray(deps)) {
      throw new ValidationError(`${field}.dependsOn`, "must be an array of node ids");
    }
    const parents: EdgeSpec[] = [];
    const seen = new Set<string>();
    deps.forEach((d: string | Dependency, j: number) => {
      const f = `${field}.dependsOn[${j}]`;
      const dep = typeof d === "string" ? { node: d } : checkOptions<Dependency>(d, f, DEP_KEYS);
      const key = checkNodeId(dep.node, typeof d === "string" ? f : `${f}.node`);
      if (seen.has(key)) {
        throw new FlowGraphError("duplicate_node", [id, key], `"${id}" lists "${key}" twice`);
      }
      seen.add(key);
      const p = dep.onFailure === undefined ? policy : checkPolicy(dep.onFailure, `${f}.onFailure`);
      parents.push(policyEdge(key, p));
    });
    byId.set(id, { key: id, ...nodeBody(node.job!, node.args, node.options, field), parents });
    order.push(id);
  }
  for (const n of byId.values()) {
    for (const p of n.parents) {
      if (!byId.has(p.key)) {
        throw new FlowGraphError(
          "unknown_parent",
          [n.key, p.key],
          `"${n.key}" depends on "${p.key}", which is not a node of this flow`,
        );
      }
    }
  }
  return { name, nodes: topological(order, byId) };
}

/** Depth-first order, parents first; throws on a cycle, naming it. */
function topological(order: string[], byId: Map<string, NodeSpec>): NodeSpec[] {
  const out: NodeSpec[] = [];
  const state = new Map<string, "open" | "done">();
  const path: string[] = [];
  const visit = (start: string): void => {
    // Iterative, so a 10 000-node chain cannot overflow the call stack.
    const stack: { id: string; next: number }[] = [{ id: start, next: 0 }];
    state.set(start, "open");
    path.push(start);
    while (stack.length > 0) {
      const top = stack[stack.length - 1];
      const node = byId.get(top.id)!;
      if (top.next < node.parents.length) {
        const p = node.parents[top.next++].key;
        const st = state.get(p);
        if (st === "open") {
          const cycle = [...path.slice(path.indexOf(p)), p];
          throw new FlowGraphError(
            "cycle",
            cycle,
            `dependency cycle ${cycle.map((c) => `"${c}"`).join(" -> ")}`,
          );
        }
        if (st === undefined) {
          state.set(p, "open");
          path.push(p);
          stack.push({ id: p, next: 0 });
        }
      } else {
        state.set(top.id, "done");
        path.pop();
        stack.pop();
        out.push(node);
      }
    }
  };
  for (const id of order) if (!state.has(id)) visit(id);
  return out;
}
