-- Prune the oldest slot of a ring by TRUNCATE once its gates pass. Outcomes:
--   pruned               the slot was truncated;
--   carried              the slot's live ready rows (at most p_carry_limit) were copied into
--                        the current slot, then the slot was truncated;
--   already_pruned       the slot was empty;
--   nothing              the ring has not wrapped far enough;
--   skipped_busy         another rotate or prune holds the ring;
--   skipped_live         an attempt claimed from the slot (queue ring) or in it (claim ring)
--                        is still open, or the slot has live rows and carrying is off (the
--                        ring has not wrapped yet, or p_carry_limit is 0);
--   skipped_carry_limit  more than p_carry_limit live rows: nothing is carried, and the ring
--                        waits until they are claimed or fewer;
--   blocked              ACCESS EXCLUSIVE not granted within p_lock_timeout.
CREATE OR REPLACE FUNCTION {{schema}}.prune_ring(p_ring text, p_lock_timeout text DEFAULT '10ms',
  p_carry_limit int DEFAULT 5000)
RETURNS text LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_slot smallint;
  v_gen bigint;
  v_n smallint;
  v_k bigint;
  v_target smallint;
  v_tables text[];
  v_limit int;
  v_refusal text;
  v_live int;
BEGIN
  SELECT c.slot, c.generation, c.slot_count INTO v_slot, v_gen, v_n FROM {{schema}}.lock_ring(p_ring) c;
  IF v_slot IS NULL THEN
    RETURN 'skipped_busy';
  END IF;
  v_k := least(v_gen + 1, v_n);
  IF v_k < 2 THEN
    RETURN 'nothing';
  END IF;
  v_target := mod(v_slot - (v_k - 1) + v_n, v_n);
  -- Carry only once the ring has wrapped: then the target is the slot the next rotation needs.
  -- Before that, rotation is not waiting for it and its rows are young.
  v_limit := CASE WHEN v_gen + 1 >= v_n THEN greatest(coalesce(p_carry_limit, 0), 0) ELSE 0 END;
  IF {{schema}}.ring_slot_empty(p_ring, v_target) THEN
    RETURN 'already_pruned';
  END IF;
  SELECT g.refusal INTO v_refusal FROM {{schema}}.prune_refusal(p_ring, v_target, v_limit) g;
  IF v_refusal IS NOT NULL THEN
    RETURN v_refusal;
  END IF;

  IF p_ring = 'queue' THEN
    -- Completed jobs of queues that keep no history leave retention with this slot; their
    -- unique claims go with them (the others go when their history partition is dropped).
    -- Taken before the partition locks to keep the global lock order (unique claims before
    -- partitions).
    DELETE FROM {{schema}}.job_unique_claims u USING {{schema}}.done_entries d
    WHERE d.ready_slot = v_target AND d.state = 'completed' AND u.job_id = d.job_id
      AND {{schema}}.retention_ms(d.queue, 'completed') = 0;
    v_tables := ARRAY['{{schema}}.ready_entries_', '{{schema}}.ready_tombstones_', '{{schema}}.claim_emissions_',
      '{{schema}}.done_entries_'];
  ELSE
    v_tables := ARRAY['{{schema}}.claim_batches_', '{{schema}}.claim_closures_', '{{schema}}.attempt_heartbeats_'];
  END IF;
  SELECT array_agg(t || v_target ORDER BY t) INTO v_tables FROM unnest(v_tables) t;

  PERFORM set_config('lock_timeout', p_lock_timeout, true);
  BEGIN
    EXECUTE 'LOCK TABLE ' || array_to_string(v_tables, ', ') || ' IN ACCESS EXCLUSIVE MODE';
    -- Inside the block: a timeout that fires just as the lock is granted is raised at the next
    -- interrupt check, which is here, and must count as blocked too.
    PERFORM set_config('lock_timeout', '0', true);
  EXCEPTION WHEN lock_not_available THEN
    RETURN 'blocked';
  END;

  -- Recheck in fresh statements: writers that committed while we waited are visible now, and
  -- nobody can claim, cancel or append in the slot until we commit.
  SELECT g.refusal, g.live INTO v_refusal, v_live
  FROM {{schema}}.prune_refusal(p_ring, v_target, v_limit) g;
  IF v_refusal IS NOT NULL THEN
    RETURN v_refusal;
  END IF;
  IF p_ring = 'queue' THEN
    IF v_live > 0 THEN
      -- The ring lock keeps the cursor where it is until commit.
      INSERT INTO {{schema}}.ready_entries (
        ready_slot, generation, queue, priority, enqueue_shard, lane_seq, job_id, kind, args,
        attempt, run_lease, max_attempts, run_at, created_at, tags, metadata, errors, progress,
        unique_key, unique_states
      )
      SELECT v_slot, v_gen, r.queue, r.priority, r.enqueue_shard, r.lane_seq, r.job_id, r.kind,
        r.args, r.attempt, r.run_lease, r.max_attempts, r.run_at, r.created_at, r.tags,
        r.metadata, r.errors, r.progress, r.unique_key, r.unique_states
      FROM {{schema}}.slot_live_rows(v_target) r;
    END IF;
    INSERT INTO {{schema}}.terminal_rollup_deltas (queue, state, delta)
    SELECT queue, state, count(*) FROM {{schema}}.done_entries WHERE ready_slot = v_target
    GROUP BY queue, state;
    -- queue_stats' recent counts: the slot's terminal rows by second of finalization, taken in
    -- the transaction that truncates them; buckets past the hour window are reclaimed here.
    INSERT INTO {{schema}}.queue_terminal_counts AS c (queue, state, bucket, n)
    SELECT queue, state, date_trunc('second', finalized_at), count(*)
    FROM {{schema}}.done_entries WHERE ready_slot = v_target GROUP BY 1, 2, 3
    ON CONFLICT (queue, state, bucket) DO UPDATE SET n = c.n + excluded.n;
    DELETE FROM {{schema}}.queue_terminal_counts
    WHERE bucket < clock_timestamp() - interval '61 minutes';
    PERFORM {{schema}}.copy_slot_to_history(v_target);
  END IF;
  EXECUTE 'TRUNCATE ' || array_to_string(v_tables, ', ');
  RETURN CASE WHEN v_live > 0 THEN 'carried' ELSE 'pruned' END;
END
$$;
