-- Move due deferred jobs (scheduled, retryable) of unpaused queues back into their lanes. A keyed
-- job that holds no key slot yet (inserted scheduled) enters its key instead (key_enter): it is
-- admitted to its lane or parked until the key has room. Retrying and snoozed keyed jobs kept
-- their slot and go straight back.
CREATE OR REPLACE FUNCTION {{schema}}.promote_due(p_limit int DEFAULT 4096)
RETURNS int LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_rows {{schema}}.deferred_jobs[];
  v_group record;
  v_shard smallint;
  v_base bigint;
  v_total int := 0;
  v_keyed bigint[];
  v_one {{schema}}.deferred_jobs;
BEGIN
  WITH due AS (
    DELETE FROM {{schema}}.deferred_jobs d
    WHERE d.job_id IN (
      SELECT x.job_id FROM {{schema}}.deferred_jobs x
      WHERE x.run_at <= clock_timestamp()
        AND NOT EXISTS (SELECT 1 FROM {{schema}}.queue_meta m WHERE m.queue = x.queue AND m.paused)
      ORDER BY x.run_at, x.priority, x.job_id
      LIMIT p_limit
      FOR UPDATE SKIP LOCKED
    )
    RETURNING d.*
  )
  SELECT array_agg(due) INTO v_rows FROM due;
  IF v_rows IS NULL THEN
    RETURN 0;
  END IF;

  -- Unique claims whose mask covers `available` but not the deferred state are re-acquired here
  -- (before lane locks); a key taken meanwhile by another job leaves this one unclaimed.
  INSERT INTO {{schema}}.job_unique_claims (unique_key, job_id)
  SELECT r.unique_key, r.job_id FROM unnest(v_rows) r
  WHERE r.unique_key IS NOT NULL AND {{schema}}.mask_has(r.unique_states, 'available')
    AND NOT {{schema}}.mask_has(r.unique_states, r.state)
  ORDER BY r.unique_key
  ON CONFLICT (unique_key) DO NOTHING;

  SELECT array_agg(r.job_id) INTO v_keyed FROM unnest(v_rows) r
  WHERE r.metadata ? 'awa:concurrency_key'
    AND NOT EXISTS (SELECT 1 FROM {{schema}}.key_admissions a WHERE a.job_id = r.job_id);
  IF v_keyed IS NOT NULL THEN
    -- Every key first, in sorted order, then the lanes (global lock order).
    PERFORM {{schema}}.key_lock(k.queue, k.ckey) FROM (
      SELECT DISTINCT r.queue, r.metadata ->> 'awa:concurrency_key' AS ckey FROM unnest(v_rows) r
      WHERE r.job_id = ANY (v_keyed) ORDER BY 1, 2
    ) k;
    FOR v_one IN
      SELECT * FROM unnest(v_rows) r WHERE r.job_id = ANY (v_keyed) ORDER BY r.run_at, r.job_id
    LOOP
      PERFORM {{schema}}.append_ready_job(v_one.job_id, v_one.kind, v_one.args, v_one.queue,
        v_one.priority, v_one.max_attempts, v_one.attempt, v_one.run_lease, v_one.created_at,
        v_one.tags, v_one.metadata, v_one.errors, v_one.progress, v_one.unique_key,
        v_one.unique_states, NULL);
      v_total := v_total + 1;
    END LOOP;
    SELECT array_agg(r) INTO v_rows FROM unnest(v_rows) r WHERE NOT (r.job_id = ANY (v_keyed));
    IF v_rows IS NULL THEN
      RETURN v_total;
    END IF;
  END IF;

  FOR v_group IN
    SELECT r.queue, r.priority, count(*) AS n FROM unnest(v_rows) r
    GROUP BY r.queue, r.priority ORDER BY r.queue, r.priority
  LOOP
    v_shard := {{schema}}.lock_enqueue_lane(v_group.queue, v_group.priority, NULL);
    v_base := nextval('{{schema}}.lane_block_seq');
    INSERT INTO {{schema}}.ready_entries (
      ready_slot, generation, queue, priority, enqueue_shard, lane_seq, job_id, kind, args,
      attempt, run_lease, max_attempts, run_at, created_at, tags, metadata, errors, progress,
      unique_key, unique_states
    )
    SELECT c.slot, c.generation, r.queue, r.priority, v_shard,
      v_base + row_number() OVER (ORDER BY r.run_at, r.job_id) - 1, r.job_id, r.kind, r.args,
      r.attempt, r.run_lease, r.max_attempts, r.run_at, r.created_at, r.tags, r.metadata,
      r.errors, r.progress, r.unique_key, r.unique_states
    FROM unnest(v_rows) r, {{schema}}.ring_head('queue') c
    WHERE r.queue = v_group.queue AND r.priority = v_group.priority;
    PERFORM pg_notify({{schema}}.notify_channel(v_group.queue), '');
    v_total := v_total + v_group.n;
  END LOOP;
  RETURN v_total;
END
$$;
