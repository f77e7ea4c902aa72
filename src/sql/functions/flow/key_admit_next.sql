-- Admit the next waiting jobs of the given keys, as many as each key has room for, in the key's
-- order, and append them to their lanes. The caller holds the locks of these keys (key_lock).
-- Returns how many jobs were admitted. The queue's limit is joined once per key rather than
-- looked up per row; waiting rows are deleted by the ctid the pick read under the key locks.
CREATE OR REPLACE FUNCTION {{schema}}.key_admit_next(p_queues text[], p_keys text[])
RETURNS int LANGUAGE plpgsql VOLATILE
SET plan_cache_mode = force_generic_plan SET enable_seqscan = off
AS $$
DECLARE
  v_rows {{schema}}.key_waiting[];
  v_group record;
  v_shard smallint;
  v_base bigint;
  v_total int := 0;
BEGIN
  WITH keys AS (
    SELECT DISTINCT x.q, x.k FROM unnest(p_queues, p_keys) AS x(q, k)
  ), room AS (
    SELECT k.q, k.k, coalesce(f.per_key, h.per_key) AS lim
    FROM keys k
    LEFT JOIN {{schema}}.queue_flow f ON f.queue = k.q
    CROSS JOIN LATERAL (
      SELECT w.per_key FROM {{schema}}.key_waiting w
      WHERE w.queue = k.q AND w.concurrency_key = k.k ORDER BY w.seq LIMIT 1
    ) h
  ), picked AS (
    SELECT w.ctid AS tid, r.lim FROM room r
    CROSS JOIN LATERAL (
      SELECT w.ctid FROM {{schema}}.key_waiting w
      WHERE w.queue = r.q AND w.concurrency_key = r.k
      ORDER BY w.seq
      LIMIT CASE WHEN r.lim IS NOT NULL THEN greatest(r.lim - (
        SELECT count(*) FROM {{schema}}.key_admissions a
        WHERE a.queue = r.q AND a.concurrency_key = r.k), 0) END
    ) w
  ), gone AS (
    DELETE FROM {{schema}}.key_waiting w USING picked p WHERE w.ctid = p.tid
    RETURNING w AS body, p.lim
  ), admitted AS (
    INSERT INTO {{schema}}.key_admissions (job_id, queue, concurrency_key)
    SELECT (g.body).job_id, (g.body).queue, (g.body).concurrency_key FROM gone g
    WHERE g.lim IS NOT NULL
  )
  SELECT array_agg(g.body) INTO v_rows FROM gone g;
  IF v_rows IS NULL THEN
    RETURN 0;
  END IF;

  -- One position block per lane and at most 65536 rows, like promotion.
  FOR v_group IN
    SELECT x.queue, x.priority, x.chunk, min(x.seq) AS lo, max(x.seq) AS hi, count(*) AS n
    FROM (
      SELECT r.queue, r.priority, r.seq,
        (row_number() OVER (PARTITION BY r.queue, r.priority ORDER BY r.seq) - 1) / 65536 AS chunk
      FROM unnest(v_rows) r
    ) x
    GROUP BY x.queue, x.priority, x.chunk ORDER BY x.queue, x.priority, x.chunk
  LOOP
    v_shard := {{schema}}.lock_enqueue_lane(v_group.queue, v_group.priority, NULL);
    v_base := nextval('{{schema}}.lane_block_seq');
    INSERT INTO {{schema}}.ready_entries (
      ready_slot, generation, queue, priority, enqueue_shard, lane_seq, job_id, kind, args,
      attempt, run_lease, max_attempts, run_at, created_at, tags, metadata, errors, progress,
      unique_key, unique_states
    )
    SELECT c.slot, c.generation, r.queue, r.priority, v_shard,
      v_base + row_number() OVER (ORDER BY r.seq) - 1, r.job_id, r.kind, r.args, r.attempt,
      r.run_lease, r.max_attempts, clock_timestamp(), r.created_at, r.tags, r.metadata, r.errors,
      r.progress, r.unique_key, r.unique_states
    FROM unnest(v_rows) r, {{schema}}.ring_head('queue') c
    WHERE r.queue = v_group.queue AND r.priority = v_group.priority
      AND r.seq BETWEEN v_group.lo AND v_group.hi;
    PERFORM pg_notify({{schema}}.notify_channel(v_group.queue), '');
    v_total := v_total + v_group.n;
  END LOOP;
  RETURN v_total;
END
$$;
