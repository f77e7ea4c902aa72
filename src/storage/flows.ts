/**
 * Flows, batches and follow-ups (docs/flows.md): `insertFlow` (`insert_flow`), and for the admin
 * layer `listFlows`, `getFlowRow`, `flowNodeRows` (`flows`, `flow_nodes`, `flow_edges`, the
 * `jobs` view for released nodes) and `cancelFlow` (`cancel_flow`); `pruneFinishedFlows` for
 * maintenance.
 * @module
 */
import type { Store } from "./store.ts";

/** A node's key and job id as `insert_flow` returns them. */
export interface InsertedNodeRow {
  flow_id: string;
  node_key: string;
  job_id: string;
}

/** Insert a flow (its payload built by src/flows/); one row per node. */
export function insertFlow(store: Store, payload: unknown): Promise<InsertedNodeRow[]> {
  return store.run<InsertedNodeRow>(
    "insertFlow",
    "SELECT flow_id::text, node_key, job_id::text FROM {{schema}}.insert_flow($1::text::jsonb)",
    [JSON.stringify(payload)],
  );
}

/** A flow with the counts of its nodes by state. */
export interface FlowRow {
  flow_id: string;
  flow_kind: string;
  name: string | null;
  cancelled_at: Date | null;
  created_at: Date;
  node_count: number;
  waiting: number;
  released: number;
  completed: number;
  failed: number;
  cancelled: number;
  skipped: number;
  finished_at: Date | null;
}

const FLOW_COLUMNS = `f.flow_id::text, f.flow_kind, f.name, f.cancelled_at, f.created_at,
  f.node_count, c.waiting, c.released, c.completed, c.failed, c.cancelled, c.skipped,
  c.finished_at`;

const FLOW_COUNTS = `CROSS JOIN LATERAL (
  SELECT count(*) FILTER (WHERE n.state = 'waiting')::int AS waiting,
    count(*) FILTER (WHERE n.state = 'released')::int AS released,
    count(*) FILTER (WHERE n.state = 'completed')::int AS completed,
    count(*) FILTER (WHERE n.state = 'failed')::int AS failed,
    count(*) FILTER (WHERE n.state = 'cancelled')::int AS cancelled,
    count(*) FILTER (WHERE n.state = 'skipped')::int AS skipped,
    CASE WHEN bool_and(n.state NOT IN ('waiting', 'released')) THEN max(n.finished_at) END
      AS finished_at
  FROM {{schema}}.flow_nodes n WHERE n.flow_id = f.flow_id) c`;

/** Flows by id, newest first, below `beforeId` when given; optionally of one kind. */
export function listFlows(
  store: Store,
  q: { kind: string | null; beforeId: number | null; limit: number },
): Promise<FlowRow[]> {
  return store.run<FlowRow>(
    "listFlows",
    `SELECT ${FLOW_COLUMNS} FROM {{schema}}.flows f ${FLOW_COUNTS}
     WHERE ($1::text IS NULL OR f.flow_kind = $1) AND ($2::bigint IS NULL OR f.flow_id < $2)
     ORDER BY f.flow_id DESC LIMIT $3`,
    [q.kind, q.beforeId, q.limit],
  );
}

/** One flow, or none. */
export async function getFlowRow(store: Store, flowId: number): Promise<FlowRow | null> {
  const rows = await store.run<FlowRow>(
    "getFlowRow",
    `SELECT ${FLOW_COLUMNS} FROM {{schema}}.flows f ${FLOW_COUNTS} WHERE f.flow_id = $1`,
    [flowId],
  );
  return rows[0] ?? null;
}

/** A node with its parents and, for a released node, its job's state now. */
export interface FlowNodeRow {
  node_key: string;
  job_id: string;
  state: string;
  job_state: string | null;
  kind: string;
  result: unknown;
  finished_at: Date | null;
  parents: string[];
}

/** Every node of a flow, in job id order (parents before children). */
export function flowNodeRows(store: Store, flowId: number): Promise<FlowNodeRow[]> {
  return store.run<FlowNodeRow>(
    "flowNodeRows",
    `SELECT n.node_key, n.job_id::text, n.state,
       CASE WHEN n.state = 'released' THEN (
         SELECT j.state::text FROM {{schema}}.jobs j WHERE j.id = n.job_id
         ORDER BY j.run_lease DESC LIMIT 1) END AS job_state,
       n.kind, n.result, n.finished_at,
       ARRAY(SELECT p.node_key FROM {{schema}}.flow_edges e
         JOIN {{schema}}.flow_nodes p ON p.job_id = e.parent_id
         WHERE e.child_id = n.job_id ORDER BY p.job_id) AS parents
     FROM {{schema}}.flow_nodes n WHERE n.flow_id = $1 ORDER BY n.job_id`,
    [flowId],
  );
}

/** Cancel a flow; the number of nodes this call cancelled (0 if it was cancelled before). */
export async function cancelFlow(store: Store, flowId: number, reason: string): Promise<number> {
  const rows = await store.run<{ n: number }>(
    "cancelFlow",
    "SELECT {{schema}}.cancel_flow($1, $2) AS n",
    [flowId, reason],
  );
  return Number(rows[0]?.n ?? 0);
}

/** Delete up to `limit` flows finished longer ago than the retention (`prune_finished_flows`). */
export async function pruneFinishedFlows(store: Store, limit: number): Promise<number> {
  const [{ n }] = await store.run<{ n: number }>(
    "pruneFinishedFlows",
    "SELECT {{schema}}.prune_finished_flows($1) AS n",
    [limit],
  );
  return n;
}
