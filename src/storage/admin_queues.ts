/**
 * Queue administration: pause and resume (`queue_meta.paused`, which claims and promotion
 * read), and exact queue statistics (`queue_stats`, `stats_queues`).
 * @module
 */
import { epochMs as ms } from "./epoch.ts";
import type { Store } from "./store.ts";

// The upsert writes only on a change; the NOTIFY on resume wakes the queue's dispatchers (the
// channel inserts use), delivered when the caller's transaction commits.
const SET_QUEUE_PAUSED_SQL = `WITH changed AS (
  INSERT INTO {{schema}}.queue_meta AS m (queue, paused) VALUES ($1, $2)
  ON CONFLICT (queue) DO UPDATE SET paused = excluded.paused, updated_at = now()
  WHERE m.paused IS DISTINCT FROM excluded.paused
  RETURNING 1
)
SELECT (SELECT count(*) FROM changed)::int AS changed,
  CASE WHEN NOT $2 THEN pg_notify({{schema}}.notify_channel($1), '') END AS notified`;

/** Set a queue's paused flag; returns whether it changed. */
export async function setQueuePaused(
  store: Store,
  queue: string,
  paused: boolean,
): Promise<boolean> {
  const [{ changed }] = await store.run<{ changed: number }>(
    "setQueuePaused",
    SET_QUEUE_PAUSED_SQL,
    [queue, paused],
  );
  return changed > 0;
}

/** One row of `queue_stats`: counts as decimal strings (bigint), times in epoch ms. */
export interface QueueStatsRow {
  queue: string;
  paused: boolean;
  enqueue_shards: number;
  available: string;
  running: string;
  waiting_external: string;
  scheduled: string;
  retryable: string;
  completed: string;
  cancelled: string;
  failed: string;
  dlq: string;
  oldest_available_at: number | null;
  completed_last_minute: string;
  completed_last_hour: string;
  failed_last_minute: string;
  failed_last_hour: string;
  minute_from: number;
  hour_from: number;
  measured_at: number;
}

// Counts travel as text and times as epoch milliseconds: node-postgres and postgres.js parse
// bigint and timestamptz differently, and a timestamp's text depends on the session.
const STATS_COLUMNS = `s.queue, s.paused, s.enqueue_shards::int AS enqueue_shards,
  s.available::text, s.running::text, s.waiting_external::text, s.scheduled::text,
  s.retryable::text, s.completed::text, s.cancelled::text, s.failed::text, s.dlq::text,
  ${ms("s.oldest_available_at")}, s.completed_last_minute::text, s.completed_last_hour::text,
  s.failed_last_minute::text, s.failed_last_hour::text, ${ms("s.minute_from")},
  ${ms("s.hour_from")}, ${ms("s.measured_at")}`;

/** Statistics of one queue (`queue_stats`). */
export async function queueStats(store: Store, queue: string): Promise<QueueStatsRow> {
  const [row] = await store.run<QueueStatsRow>(
    "queueStats",
    `SELECT ${STATS_COLUMNS} FROM {{schema}}.queue_stats($1) s`,
    [queue],
  );
  return row;
}

/** Statistics of every queue the schema knows of (`stats_queues`), by name. */
export async function allQueueStats(store: Store): Promise<QueueStatsRow[]> {
  return await store.run<QueueStatsRow>(
    "allQueueStats",
    `SELECT ${STATS_COLUMNS} FROM {{schema}}.stats_queues() q
     CROSS JOIN LATERAL {{schema}}.queue_stats(q) s ORDER BY s.queue`,
  );
}
