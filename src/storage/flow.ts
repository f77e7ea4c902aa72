/**
 * Fleet-wide flow control: per-key concurrency limits and rate limits of a queue
 * (`queue_flow`, `key_admissions`, `key_waiting`; docs/concurrency-keys.md).
 * @module
 */
import type { Store } from "./store.ts";

/** One keyed job of an insertMany batch, as `insert_keyed_jobs` takes it. */
export interface KeyedJobRow {
  idx: number;
  kind: string;
  args: unknown;
  queue: string;
  priority: number;
  max_attempts: number;
  run_at: string | null;
  metadata: unknown;
  tags: string[];
  unique_key: string | null;
  unique_states: string | null;
  ordering_key: string | null;
}

const INSERT_KEYED_JOBS_SQL =
  `SELECT idx, id::text AS id FROM {{schema}}.insert_keyed_jobs($1::text::jsonb, $2)`;

/** Insert the keyed jobs of a batch (each enters its key); ids by batch index, null if skipped. */
export async function insertKeyedJobs(
  store: Store,
  jobs: KeyedJobRow[],
  onConflict: "error" | "skip",
): Promise<Map<number, string | null>> {
  const rows = await store.run<{ idx: number; id: string | null }>(
    "insertKeyedJobs",
    INSERT_KEYED_JOBS_SQL,
    [JSON.stringify(jobs), onConflict],
  );
  return new Map(rows.map((r) => [Number(r.idx), r.id]));
}

const SET_KEY_LIMIT_SQL = `SELECT {{schema}}.set_key_limit($1, $2::int) AS admitted`;

/** Set or clear a queue's per-key limit; returns how many waiting jobs it admitted. */
export async function setKeyLimit(
  store: Store,
  queue: string,
  perKey: number | null,
): Promise<number> {
  const [row] = await store.run<{ admitted: number }>("setKeyLimit", SET_KEY_LIMIT_SQL, [
    queue,
    perKey,
  ]);
  return Number(row.admitted);
}

const SET_RATE_LIMIT_SQL = `SELECT {{schema}}.set_rate_limit($1, $2::int, $3::int)`;

/** Set or clear a queue's fleet-wide rate limit (`count` per `intervalMs`). */
export async function setRateLimit(
  store: Store,
  queue: string,
  count: number | null,
  intervalMs: number | null,
): Promise<void> {
  await store.run("setRateLimit", SET_RATE_LIMIT_SQL, [queue, count, intervalMs]);
}

/** A queue's flow-control settings and key counts as `readQueueFlow` returns them. */
export interface QueueFlowRow {
  per_key: number | null;
  rate_count: number | null;
  rate_interval_ms: number | null;
  admitted: string;
  waiting: string;
  waiting_keys: string;
}

const READ_QUEUE_FLOW_SQL = `SELECT f.per_key, f.rate_count, f.rate_interval_ms,
  (SELECT count(*) FROM {{schema}}.key_admissions a WHERE a.queue = $1)::text AS admitted,
  (SELECT count(*) FROM {{schema}}.key_waiting w WHERE w.queue = $1)::text AS waiting,
  (SELECT count(DISTINCT w.concurrency_key) FROM {{schema}}.key_waiting w WHERE w.queue = $1)::text
    AS waiting_keys
FROM (SELECT 1) one LEFT JOIN {{schema}}.queue_flow f ON f.queue = $1`;

/** Read a queue's limits and how many keyed jobs are admitted and waiting. */
export async function readQueueFlow(store: Store, queue: string): Promise<QueueFlowRow> {
  const [row] = await store.run<QueueFlowRow>("readQueueFlow", READ_QUEUE_FLOW_SQL, [queue]);
  return row;
}
