-- Claim up to p_max jobs of one queue for one runtime. Returns one row per claimed job with its
-- receipt (claim_slot, batch_id, idx), started rows before held ones. Lanes are ranked on a
-- possibly stale view; the cursor and the rows are read in fresh statements after the lane's
-- claim lock is held. p_free: how many of the claimed jobs start at once (the runtime's free
-- workers); the rest are held (`held` true) until the runtime records their start. NULL: all
-- start at once.
CREATE OR REPLACE FUNCTION {{schema}}.claim_batch(
  p_queue text, p_max int, p_deadline_s double precision, p_aging_s double precision,
  p_instance uuid, p_free int DEFAULT NULL
) RETURNS TABLE (
  claim_slot smallint, batch_id bigint, idx int, job_id bigint, run_lease bigint, attempt smallint,
  max_attempts smallint, kind text, args jsonb, priority smallint, created_at timestamptz,
  run_at timestamptz, tags text[], metadata jsonb, errors jsonb, progress jsonb,
  claimed_at timestamptz, deadline_at timestamptz, held boolean
) LANGUAGE plpgsql VOLATILE
SET plan_cache_mode = force_generic_plan SET jit = off SET enable_seqscan = off
SET enable_hashjoin = off SET enable_mergejoin = off
AS $$
DECLARE
  v_remaining int := p_max;
  v_free int := CASE WHEN p_free IS NOT NULL THEN greatest(p_free, 0) END;
  v_now timestamptz := clock_timestamp();
  v_got int;
  v_budget int;
  v_lanes refcursor;
  v_prio smallint;
  v_shard smallint;
  v_wait_prio smallint;
  v_wait_shard smallint;
  v_waited boolean := false;
  v_prev_timeout text;
BEGIN
  IF p_max < 1 THEN
    RETURN;
  END IF;
  IF EXISTS (SELECT 1 FROM {{schema}}.queue_meta m WHERE m.queue = p_queue AND m.paused) THEN
    RETURN;
  END IF;
  -- Fleet-wide rate limit (queue_flow): claim no more than the queue's bucket holds.
  v_budget := {{schema}}.rate_budget(p_queue, p_max);
  v_remaining := coalesce(v_budget, p_max);

  OPEN v_lanes FOR
    SELECT l.prio, l.shard
    FROM (
      SELECT ln.priority AS prio, ln.enqueue_shard AS shard FROM {{schema}}.lanes ln
      WHERE ln.queue = p_queue
    ) l
    -- The cursor once per lane (as an index condition it would be re-evaluated per partition),
    -- written out rather than a lane_cursor call: a subquery of this cached plan is only
    -- rescanned per lane, where each call started an executor over 16 partitions of its own.
    CROSS JOIN LATERAL (
      SELECT coalesce((
        SELECT max(e.next_lane_seq) FROM {{schema}}.claim_emissions e
        WHERE e.queue = p_queue AND e.priority = l.prio AND e.enqueue_shard = l.shard
      ), 0) AS c OFFSET 0
    ) cur
    CROSS JOIN LATERAL (
      SELECT r.run_at FROM {{schema}}.ready_entries r
      WHERE r.queue = p_queue AND r.priority = l.prio AND r.enqueue_shard = l.shard
        AND r.lane_seq >= cur.c
        AND NOT EXISTS (
          SELECT 1 FROM {{schema}}.ready_tombstones t
          WHERE t.ready_slot = r.ready_slot AND t.queue = r.queue AND t.priority = r.priority
            AND t.enqueue_shard = r.enqueue_shard AND t.lane_seq = r.lane_seq
        )
      ORDER BY r.lane_seq LIMIT 1
    ) h
    ORDER BY
      CASE WHEN p_aging_s > 0
        THEN greatest(1, l.prio - floor(extract(epoch FROM v_now - h.run_at) / p_aging_s))
        ELSE l.prio END,
      h.run_at, l.prio;
  LOOP
    EXIT WHEN v_remaining <= 0;
    FETCH v_lanes INTO v_prio, v_shard;
    IF FOUND THEN
      IF NOT pg_try_advisory_xact_lock({{schema}}.lane_key(p_queue, v_prio, v_shard, 2)) THEN
        IF v_wait_prio IS NULL THEN
          v_wait_prio := v_prio;
          v_wait_shard := v_shard;
        END IF;
        CONTINUE;
      END IF;
    ELSE
      -- Every ranked lane was tried, nothing was claimed, and another claimer held the best lane
      -- we skipped. Its claim commits within a few ms: queue on that lane's lock (the lock queue
      -- wakes us the moment it is released) rather than return empty and have the runtime sleep
      -- a poll interval while that lane holds jobs. Only when empty-handed (rows already claimed
      -- should reach their workers now), once, and bounded: a long claim elsewhere costs at
      -- most 20 ms, and the wait can never become a deadlock.
      EXIT WHEN v_wait_prio IS NULL OR v_waited OR v_remaining < coalesce(v_budget, p_max);
      v_waited := true;
      v_prio := v_wait_prio;
      v_shard := v_wait_shard;
      v_prev_timeout := current_setting('lock_timeout');
      PERFORM set_config('lock_timeout', '20ms', true);
      BEGIN
        PERFORM pg_advisory_xact_lock({{schema}}.lane_key(p_queue, v_prio, v_shard, 2));
        PERFORM set_config('lock_timeout', v_prev_timeout, true);
      EXCEPTION WHEN lock_not_available THEN
        PERFORM set_config('lock_timeout', v_prev_timeout, true);
        EXIT;
      END;
    END IF;

    -- Take the slot of the lowest unclaimed row at or above the lane's cursor, and only the run
    -- of rows in that slot that precedes any row of another slot: the emission then covers
    -- exactly the rows it claims. The cursor is read in this statement, after the lane's claim
    -- lock is held (a fresh snapshot: every earlier claim of the lane has committed).
    RETURN QUERY
    WITH cur AS MATERIALIZED (
      SELECT coalesce(max(e.next_lane_seq), 0) AS c FROM {{schema}}.claim_emissions e
      WHERE e.queue = p_queue AND e.priority = v_prio AND e.enqueue_shard = v_shard
    ), cand AS (
      SELECT r.ready_slot, r.lane_seq, r.job_id, r.run_lease, r.attempt, r.max_attempts, r.kind,
        r.args, r.created_at, r.run_at, r.tags, r.metadata, r.errors, r.progress, r.unique_key,
        r.unique_states
      FROM {{schema}}.ready_entries r
      WHERE r.queue = p_queue AND r.priority = v_prio AND r.enqueue_shard = v_shard
        AND r.lane_seq >= (SELECT cur.c FROM cur)
        AND NOT EXISTS (
          SELECT 1 FROM {{schema}}.ready_tombstones t
          WHERE t.ready_slot = r.ready_slot AND t.queue = r.queue AND t.priority = r.priority
            AND t.enqueue_shard = r.enqueue_shard AND t.lane_seq = r.lane_seq
        )
      ORDER BY r.lane_seq
      LIMIT v_remaining
    ), head AS MATERIALIZED (
      SELECT c.ready_slot FROM cand c ORDER BY c.lane_seq LIMIT 1
    ), cut AS MATERIALIZED (
      SELECT min(c.lane_seq) AS lane_seq FROM cand c, head
      WHERE c.ready_slot <> head.ready_slot
    ), picked AS MATERIALIZED (
      SELECT c.*, (row_number() OVER (ORDER BY c.lane_seq) - 1)::int AS i
      FROM cand c, head, cut
      WHERE c.ready_slot = head.ready_slot AND (cut.lane_seq IS NULL OR c.lane_seq < cut.lane_seq)
    ), ring AS MATERIALIZED (
      SELECT rr.slot, rr.generation FROM {{schema}}.ring_head('claim') rr
    ), batch AS (
      INSERT INTO {{schema}}.claim_batches AS b (
        claim_slot, generation, batch_id, instance_id, queue, priority, enqueue_shard, ready_slot,
        claimed_count, job_ids, run_leases, lane_seqs, attempts, claimed_at, deadline_at,
        has_unique, held_from
      )
      SELECT ring.slot, ring.generation, nextval('{{schema}}.claim_batch_id_seq'), p_instance, p_queue,
        v_prio, v_shard, min(p.ready_slot), count(*),
        array_agg(p.job_id ORDER BY p.i), array_agg(p.run_lease + 1 ORDER BY p.i),
        array_agg(p.lane_seq ORDER BY p.i), array_agg((p.attempt + 1)::smallint ORDER BY p.i),
        v_now,
        CASE WHEN p_deadline_s > 0 THEN v_now + make_interval(secs => p_deadline_s) END,
        bool_or(p.unique_key IS NOT NULL),
        CASE WHEN v_free < count(*) THEN v_free END
      FROM picked p, ring
      GROUP BY ring.slot, ring.generation
      RETURNING b.claim_slot, b.batch_id, b.ready_slot, b.deadline_at, b.held_from
    ), emitted AS (
      INSERT INTO {{schema}}.claim_emissions (
        ready_slot, queue, priority, enqueue_shard, first_lane_seq, next_lane_seq, claimed_count,
        claim_slot, batch_id
      )
      SELECT batch.ready_slot, p_queue, v_prio, v_shard, min(p.lane_seq),
        max(p.lane_seq) + 1, count(*), batch.claim_slot, batch.batch_id
      FROM picked p, batch
      GROUP BY batch.ready_slot, batch.claim_slot, batch.batch_id
    ), unique_released AS (
      -- available → running leaves a mask without `running`: the claim goes.
      -- Rows without a unique key never reach the index.
      DELETE FROM {{schema}}.job_unique_claims u USING picked p
      WHERE p.unique_key IS NOT NULL AND NOT {{schema}}.mask_has(p.unique_states, 'running')
        AND u.unique_key = p.unique_key AND u.job_id = p.job_id
    )
    SELECT batch.claim_slot, batch.batch_id, p.i, p.job_id, p.run_lease + 1,
      (p.attempt + 1)::smallint, p.max_attempts, p.kind, p.args, v_prio, p.created_at,
      p.run_at, p.tags, p.metadata, p.errors, p.progress, v_now, batch.deadline_at,
      coalesce(p.i >= batch.held_from, false)
    FROM picked p, batch
    ORDER BY p.i;

    GET DIAGNOSTICS v_got = ROW_COUNT;
    v_remaining := v_remaining - v_got;
    IF v_free IS NOT NULL THEN
      v_free := greatest(v_free - v_got, 0);
    END IF;
  END LOOP;
  CLOSE v_lanes;
  IF v_budget > v_remaining THEN
    PERFORM {{schema}}.rate_spend(p_queue, v_budget - v_remaining);
  END IF;
END
$$;
