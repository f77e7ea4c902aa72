-- Exact statistics of one queue, read in one statement (one snapshot: a slot that prune_ring
-- truncates meanwhile is counted either live or in queue_terminal_counts, never both).
--   available         ready rows at or above their lane's cursor, minus tombstoned ones;
--   running           open receipts of the queue's claim batches (held ones included),
--                     minus those waiting_external;
--   completed, cancelled  every terminal row ever: folded rollups, unfolded deltas and the
--                     rows still in the ring;
--   failed, dlq       held rows of each kind;
--   oldest_available_at  the oldest run_at among the lanes' next rows (what claims hand out
--                     next);
--   *_last_minute/_hour  jobs finalized (failed: held) at or after minute_from / hour_from,
--                     which are the current whole second minus 60 s / 3600 s.
CREATE OR REPLACE FUNCTION {{schema}}.queue_stats(p_queue text)
RETURNS TABLE (
  queue text, paused boolean, enqueue_shards smallint, available bigint, running bigint,
  waiting_external bigint, scheduled bigint, retryable bigint, completed bigint,
  cancelled bigint, failed bigint, dlq bigint, oldest_available_at timestamptz,
  completed_last_minute bigint, completed_last_hour bigint, failed_last_minute bigint,
  failed_last_hour bigint, minute_from timestamptz, hour_from timestamptz, measured_at timestamptz
) LANGUAGE plpgsql STABLE
SET plan_cache_mode = force_generic_plan SET jit = off AS $$
DECLARE
  v_now timestamptz := clock_timestamp();
  v_minute timestamptz := date_trunc('second', v_now) - interval '60 seconds';
  v_hour timestamptz := date_trunc('second', v_now) - interval '3600 seconds';
BEGIN
  RETURN QUERY
  -- Materialized: each lane's cursor is computed once, not once per reference.
  WITH lane AS MATERIALIZED (
    SELECT l.priority AS prio, l.enqueue_shard AS shard,
      {{schema}}.lane_cursor(p_queue, l.priority, l.enqueue_shard) AS c
    FROM {{schema}}.lanes l WHERE l.queue = p_queue
  ), ready AS MATERIALIZED (
    SELECT sum(
        (SELECT count(*) FROM {{schema}}.ready_entries r
         WHERE r.queue = p_queue AND r.priority = lane.prio AND r.enqueue_shard = lane.shard
           AND r.lane_seq >= lane.c)
        - (SELECT count(*) FROM {{schema}}.ready_tombstones t
         WHERE t.queue = p_queue AND t.priority = lane.prio AND t.enqueue_shard = lane.shard
           AND t.lane_seq >= lane.c))::bigint AS n,
      min((SELECT r.run_at FROM {{schema}}.ready_entries r
         WHERE r.queue = p_queue AND r.priority = lane.prio AND r.enqueue_shard = lane.shard
           AND r.lane_seq >= lane.c
           AND NOT EXISTS (
             SELECT 1 FROM {{schema}}.ready_tombstones t
             WHERE t.ready_slot = r.ready_slot AND t.queue = r.queue AND t.priority = r.priority
               AND t.enqueue_shard = r.enqueue_shard AND t.lane_seq = r.lane_seq)
         ORDER BY r.lane_seq LIMIT 1)) AS head
    FROM lane
  ), batch AS MATERIALIZED (
    SELECT b.claim_slot, b.batch_id, b.claimed_count FROM {{schema}}.claim_batches b
    WHERE b.queue = p_queue
  ), open AS MATERIALIZED (
    SELECT (SELECT coalesce(sum(claimed_count), 0) FROM batch)
      - (SELECT coalesce(sum(upper(x) - lower(x)), 0)
         FROM {{schema}}.claim_closures c CROSS JOIN LATERAL unnest(c.receipt_ranges) x
         JOIN batch b ON b.claim_slot = c.claim_slot AND b.batch_id = lower(x) / 65536) AS n,
      (SELECT count(*) FROM {{schema}}.attempt_state s
       JOIN batch b ON b.claim_slot = s.claim_slot AND b.batch_id = s.receipt_id / 65536
       WHERE s.state = 'waiting_external') AS waiting
  ), deferred AS MATERIALIZED (
    SELECT count(*) FILTER (WHERE d.state = 'scheduled') AS scheduled,
      count(*) FILTER (WHERE d.state = 'retryable') AS retryable
    FROM {{schema}}.deferred_jobs d WHERE d.queue = p_queue
  ), live AS MATERIALIZED (
    SELECT count(*) FILTER (WHERE e.state = 'completed') AS completed,
      count(*) FILTER (WHERE e.state = 'cancelled') AS cancelled,
      count(*) FILTER (WHERE e.state = 'completed' AND e.finalized_at >= v_minute) AS c_minute,
      count(*) FILTER (WHERE e.state = 'completed' AND e.finalized_at >= v_hour) AS c_hour
    FROM {{schema}}.done_entries e WHERE e.queue = p_queue
  ), bucketed AS MATERIALIZED (
    SELECT coalesce(sum(k.n) FILTER (WHERE k.bucket >= v_minute), 0) AS c_minute,
      coalesce(sum(k.n), 0) AS c_hour
    FROM {{schema}}.queue_terminal_counts k
    WHERE k.queue = p_queue AND k.state = 'completed' AND k.bucket >= v_hour
  ), folded AS MATERIALIZED (
    SELECT coalesce(sum(x.n) FILTER (WHERE x.state = 'completed'), 0) AS completed,
      coalesce(sum(x.n) FILTER (WHERE x.state = 'cancelled'), 0) AS cancelled
    FROM (
      SELECT t.state, t.total AS n FROM {{schema}}.terminal_rollups t WHERE t.queue = p_queue
      UNION ALL
      SELECT d.state, d.delta FROM {{schema}}.terminal_rollup_deltas d WHERE d.queue = p_queue
    ) x
  ), held AS MATERIALIZED (
    SELECT count(*) FILTER (WHERE h.hold_kind = 'failed') AS failed,
      count(*) FILTER (WHERE h.hold_kind = 'dlq') AS dlq,
      count(*) FILTER (WHERE h.held_at >= v_minute) AS f_minute,
      count(*) FILTER (WHERE h.held_at >= v_hour) AS f_hour
    FROM {{schema}}.dlq_entries h WHERE h.queue = p_queue
  )
  SELECT p_queue, coalesce(m.paused, false), coalesce(m.enqueue_shards, 4::smallint),
    coalesce(ready.n, 0)::bigint, (open.n - open.waiting)::bigint, open.waiting,
    deferred.scheduled, deferred.retryable, (folded.completed + live.completed)::bigint,
    (folded.cancelled + live.cancelled)::bigint, held.failed, held.dlq, ready.head,
    (live.c_minute + bucketed.c_minute)::bigint, (live.c_hour + bucketed.c_hour)::bigint,
    held.f_minute, held.f_hour, v_minute, v_hour, v_now
  FROM ready, open, deferred, live, bucketed, folded, held
  LEFT JOIN {{schema}}.queue_meta m ON m.queue = p_queue;
END
$$;
