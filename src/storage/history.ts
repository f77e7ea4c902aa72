/**
 * Retention of finished jobs and its upkeep: the retention settings (`retention_defaults`, the
 * per-queue columns of `queue_meta`), the hourly partitions of `job_history`
 * (`ensure_history_partitions`, `drop_expired_history`), and the bounded expiry of held jobs.
 * @module
 */
import type { Store } from "./store.ts";

/** Retention in ms by what is kept; null in a queue's row: the default applies. */
export interface RetentionRow {
  completed_ms: string | null;
  failed_ms: string | null;
  dlq_ms: string | null;
}

/** The default retention row. */
export async function readRetentionDefaults(store: Store): Promise<RetentionRow> {
  const [row] = await store.run<RetentionRow>(
    "readRetentionDefaults",
    `SELECT completed_ms::text, failed_ms::text, dlq_ms::text FROM {{schema}}.retention_defaults`,
  );
  return row;
}

/** The retention that applies to `queue` (`retention_ms`), in ms. */
export async function readRetention(store: Store, queue: string): Promise<RetentionRow> {
  const [row] = await store.run<RetentionRow>(
    "readRetention",
    `SELECT {{schema}}.retention_ms($1, 'completed')::text AS completed_ms,
      {{schema}}.retention_ms($1, 'failed')::text AS failed_ms,
      {{schema}}.retention_ms($1, 'dlq')::text AS dlq_ms`,
    [queue],
  );
  return row;
}

/** What to change; undefined keeps the current value, null clears an override. */
export interface RetentionPatch {
  completedMs?: number | null;
  failedMs?: number | null;
  dlqMs?: number | null;
}

/** For each of completed, failed, dlq: whether to keep the current value, and the new one. */
function patchParams(p: RetentionPatch): unknown[] {
  return [p.completedMs, p.failedMs, p.dlqMs].flatMap((v) => [v === undefined, v ?? null]);
}

/** Update the defaults (a null `completedMs`/`dlqMs` is refused by the caller). */
export async function writeRetentionDefaults(store: Store, p: RetentionPatch): Promise<void> {
  await store.run(
    "writeRetentionDefaults",
    `UPDATE {{schema}}.retention_defaults SET
      completed_ms = CASE WHEN $1 THEN completed_ms ELSE $2::bigint END,
      failed_ms = CASE WHEN $3 THEN failed_ms ELSE $4::bigint END,
      dlq_ms = CASE WHEN $5 THEN dlq_ms ELSE $6::bigint END`,
    patchParams(p),
  );
}

/** Update `queue`'s overrides, creating its `queue_meta` row when missing. */
export async function writeQueueRetention(
  store: Store,
  queue: string,
  p: RetentionPatch,
): Promise<void> {
  await store.run(
    "writeQueueRetention",
    `INSERT INTO {{schema}}.queue_meta AS m (queue, completed_retention_ms, failed_retention_ms,
      dlq_retention_ms)
    VALUES ($1, $3::bigint, $5::bigint, $7::bigint)
    ON CONFLICT (queue) DO UPDATE SET
      completed_retention_ms = CASE WHEN $2 THEN m.completed_retention_ms ELSE $3::bigint END,
      failed_retention_ms = CASE WHEN $4 THEN m.failed_retention_ms ELSE $5::bigint END,
      dlq_retention_ms = CASE WHEN $6 THEN m.dlq_retention_ms ELSE $7::bigint END,
      updated_at = now()`,
    [queue, ...patchParams(p)],
  );
}

/** Create the hourly history partitions ahead (`ensure_history_partitions`): how many. */
export async function ensureHistoryPartitions(
  store: Store,
  maxHours: number,
  lockTimeout: string,
): Promise<number> {
  const [{ n }] = await store.run<{ n: number }>(
    "ensureHistoryPartitions",
    "SELECT {{schema}}.ensure_history_partitions($1::int, $2) AS n",
    [maxHours, lockTimeout],
  );
  return n;
}

/** Drop expired history partitions (`drop_expired_history`): how many were reclaimed. */
export async function dropExpiredHistory(store: Store, lockTimeout: string): Promise<number> {
  const [{ n }] = await store.run<{ n: number }>(
    "dropExpiredHistory",
    "SELECT {{schema}}.drop_expired_history($1) AS n",
    [lockTimeout],
  );
  return n;
}

/**
 * Delete at most `limit` held jobs whose retention passed (`failed` and `dlq` holds, each by
 * its queue's retention), oldest first, releasing their unique claims. Returns how many.
 */
export async function purgeExpiredHolds(store: Store, limit: number): Promise<number> {
  const [{ n }] = await store.run<{ n: string }>(
    "purgeExpiredHolds",
    `WITH due AS (
      SELECT h.job_id FROM {{schema}}.dlq_entries h
      WHERE h.held_at + make_interval(secs => {{schema}}.retention_ms(h.queue, h.hold_kind) / 1000.0)
        <= clock_timestamp()
      ORDER BY h.job_id LIMIT $1
      FOR UPDATE SKIP LOCKED
    ), gone AS (
      DELETE FROM {{schema}}.dlq_entries h USING due d WHERE h.job_id = d.job_id
      RETURNING h.job_id, h.unique_key
    ), released AS (
      DELETE FROM {{schema}}.job_unique_claims u USING gone g
      WHERE u.unique_key = g.unique_key AND u.job_id = g.job_id
    )
    SELECT count(*)::text AS n FROM gone`,
    [limit],
  );
  return Number(n);
}
