/**
 * Runtime and storage status for operators: the runtime registry (`runtime_instances`), the
 * rings' cursors and slots, table statistics, and the last ring maintenance outcome
 * (`ring_maintenance_status`, written by the rings service).
 * @module
 */
import { epochMs as ms } from "./epoch.ts";
import type { Store } from "./store.ts";

/** One row of `runtime_instances` with its stale flag; times in epoch ms. */
export interface RuntimeRow {
  instance_id: string;
  hostname: string;
  pid: number;
  version: string;
  started_at: number;
  last_seen_at: number;
  snapshot_interval_ms: number;
  leader: boolean;
  shutting_down: boolean;
  queues: string;
  stale: boolean;
}

// Stale: unseen for three snapshot intervals (at least 1 s each), and for at least 30 s.
const LIST_RUNTIMES_SQL = `SELECT r.instance_id::text, r.hostname, r.pid, r.version,
  ${ms("r.started_at")}, ${ms("r.last_seen_at")}, r.snapshot_interval_ms, r.leader, r.shutting_down,
  r.queues::text,
  r.last_seen_at + make_interval(secs => greatest(3 * greatest(r.snapshot_interval_ms, 1000),
    30000) / 1000.0) < clock_timestamp() AS stale
FROM {{schema}}.runtime_instances r ORDER BY r.started_at, r.instance_id`;

/** Every listed runtime instance, oldest first. */
export async function listRuntimeInstances(store: Store): Promise<RuntimeRow[]> {
  return await store.run<RuntimeRow>("listRuntimeInstances", LIST_RUNTIMES_SQL);
}

/** One ring's cursor, size and last maintenance outcome; times in epoch ms. */
export interface RingRow {
  ring: "queue" | "claim";
  slot_count: number;
  slot: number;
  generation: string;
  rotated_at: number;
  prune_outcome: string | null;
  pruned_checked_at: number | null;
  last_pruned_at: number | null;
  rotate_outcome: string | null;
  rotate_checked_at: number | null;
  last_rotated_at: number | null;
}

const RINGS_SQL = `SELECT c.ring, c.slot_count::int, h.slot::int, h.generation::text,
  ${ms("h.rotated_at")}, s.prune_outcome, ${ms("s.pruned_checked_at")},
  ${ms("s.last_pruned_at")}, s.rotate_outcome, ${ms("s.rotate_checked_at")},
  ${ms("s.last_rotated_at")}
FROM {{schema}}.ring_config c
CROSS JOIN LATERAL (
  SELECT r.slot, r.generation, r.rotated_at FROM {{schema}}.ring_rotations r
  WHERE r.ring = c.ring ORDER BY r.generation DESC LIMIT 1
) h
LEFT JOIN {{schema}}.ring_maintenance_status s ON s.ring = c.ring
ORDER BY c.ring DESC`;

/** Both rings: cursor, slot count, last rotation and last maintenance outcomes. */
export async function ringStatus(store: Store): Promise<RingRow[]> {
  return await store.run<RingRow>("ringStatus", RINGS_SQL);
}

/** Statistics of one table (ring partitions carry their parent and slot); times in epoch ms. */
export interface TableRow {
  table_name: string;
  parent: string | null;
  slot: number | null;
  total_bytes: string;
  live_tuples: string;
  dead_tuples: string;
  last_vacuum: number | null;
  last_autovacuum: number | null;
}

// Ring partitions are the children of the partitioned ring tables, named <parent>_<slot>.
const TABLES_SQL = `SELECT t.relname AS table_name, p.relname AS parent,
  CASE WHEN p.relname IS NOT NULL THEN substring(t.relname FROM '_(\\d+)$')::int END AS slot,
  pg_total_relation_size(t.relid)::text AS total_bytes, t.n_live_tup::text AS live_tuples,
  t.n_dead_tup::text AS dead_tuples, ${ms("t.last_vacuum")}, ${ms("t.last_autovacuum")}
FROM pg_catalog.pg_stat_user_tables t
LEFT JOIN pg_catalog.pg_inherits i ON i.inhrelid = t.relid
LEFT JOIN pg_catalog.pg_class p ON p.oid = i.inhparent
WHERE t.schemaname = $1
ORDER BY p.relname NULLS FIRST, t.relname`;

/** Size, live and dead tuples of every table of the schema (`pg_stat_user_tables`). */
export async function tableStatus(store: Store): Promise<TableRow[]> {
  return await store.run<TableRow>("tableStatus", TABLES_SQL, [store.schema]);
}

/** One tick's outcomes for one ring. */
export interface RingOutcome {
  ring: "queue" | "claim";
  prune: string;
  rotate: string;
}

const RECORD_RING_OUTCOMES_SQL = `INSERT INTO {{schema}}.ring_maintenance_status AS s (ring,
  prune_outcome, pruned_checked_at, last_pruned_at, rotate_outcome, rotate_checked_at,
  last_rotated_at)
SELECT o.ring, o.prune, now(), CASE WHEN o.prune IN ('pruned', 'carried') THEN now() END,
  o.rotate, now(), CASE WHEN o.rotate = 'rotated' THEN now() END
FROM jsonb_to_recordset($1::text::jsonb) AS o(ring text, prune text, rotate text)
ON CONFLICT (ring) DO UPDATE SET prune_outcome = excluded.prune_outcome,
  pruned_checked_at = excluded.pruned_checked_at,
  last_pruned_at = coalesce(excluded.last_pruned_at, s.last_pruned_at),
  rotate_outcome = excluded.rotate_outcome, rotate_checked_at = excluded.rotate_checked_at,
  last_rotated_at = coalesce(excluded.last_rotated_at, s.last_rotated_at)`;

/** Record the rings' latest prune and rotate outcomes (one row per ring, updated in place). */
export async function recordRingOutcomes(store: Store, outcomes: RingOutcome[]): Promise<void> {
  await store.run("recordRingOutcomes", RECORD_RING_OUTCOMES_SQL, [JSON.stringify(outcomes)]);
}
