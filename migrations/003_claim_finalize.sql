-- Claim and finalization: the hot path of the runtime.

-- Claim cursor of a lane: positions below it have been emitted. Derived from the retained
-- emissions (one backward probe per slot), so it rolls back together with a failed claim.
-- plpgsql, not sql: a non-inlined SQL function is planned on every call, and planning this
-- 16-partition probe cost ~3 ms; plpgsql keeps the plan.
CREATE FUNCTION awa.lane_cursor(p_queue text, p_priority smallint, p_shard smallint)
RETURNS bigint LANGUAGE plpgsql STABLE
SET plan_cache_mode = force_generic_plan AS $$
BEGIN
  RETURN coalesce((
    SELECT max(next_lane_seq) FROM awa.claim_emissions
    WHERE queue = p_queue AND priority = p_priority AND enqueue_shard = p_shard
  ), 0);
END
$$;

-- Claim up to p_max jobs of one queue for one runtime. Returns one row per claimed job with its
-- receipt (claim_slot, batch_id, idx). Lanes are ranked on a possibly stale view; the cursor and
-- the rows are read in fresh statements after the lane's claim lock is held.
CREATE FUNCTION awa.claim_batch(
  p_queue text, p_max int, p_deadline_s double precision, p_aging_s double precision,
  p_instance uuid
) RETURNS TABLE (
  claim_slot smallint, batch_id bigint, idx int, job_id bigint, run_lease bigint, attempt smallint,
  max_attempts smallint, kind text, args jsonb, priority smallint, created_at timestamptz,
  run_at timestamptz, tags text[], metadata jsonb, errors jsonb, progress jsonb,
  claimed_at timestamptz, deadline_at timestamptz
) LANGUAGE plpgsql VOLATILE
SET plan_cache_mode = force_generic_plan SET jit = off SET enable_seqscan = off
SET enable_hashjoin = off SET enable_mergejoin = off
AS $$
DECLARE
  v_lane record;
  v_cursor bigint;
  v_remaining int := p_max;
  v_now timestamptz := clock_timestamp();
  v_got int;
BEGIN
  IF p_max < 1 THEN
    RETURN;
  END IF;
  IF EXISTS (SELECT 1 FROM awa.queue_meta m WHERE m.queue = p_queue AND m.paused) THEN
    RETURN;
  END IF;

  FOR v_lane IN
    SELECT l.prio, l.shard
    FROM (
      SELECT ln.priority AS prio, ln.enqueue_shard AS shard FROM awa.lanes ln
      WHERE ln.queue = p_queue
    ) l
    -- The cursor once per lane; as an index condition it would be re-evaluated per partition.
    CROSS JOIN LATERAL (SELECT awa.lane_cursor(p_queue, l.prio, l.shard) AS c OFFSET 0) cur
    CROSS JOIN LATERAL (
      SELECT r.run_at FROM awa.ready_entries r
      WHERE r.queue = p_queue AND r.priority = l.prio AND r.enqueue_shard = l.shard
        AND r.lane_seq >= cur.c
        AND NOT EXISTS (
          SELECT 1 FROM awa.ready_tombstones t
          WHERE t.ready_slot = r.ready_slot AND t.queue = r.queue AND t.priority = r.priority
            AND t.enqueue_shard = r.enqueue_shard AND t.lane_seq = r.lane_seq
        )
      ORDER BY r.lane_seq LIMIT 1
    ) h
    ORDER BY
      CASE WHEN p_aging_s > 0
        THEN greatest(1, l.prio - floor(extract(epoch FROM v_now - h.run_at) / p_aging_s))
        ELSE l.prio END,
      h.run_at, l.prio
  LOOP
    EXIT WHEN v_remaining <= 0;
    CONTINUE WHEN NOT pg_try_advisory_xact_lock(awa.lane_key(p_queue, v_lane.prio, v_lane.shard, 2));

    v_cursor := awa.lane_cursor(p_queue, v_lane.prio, v_lane.shard);

    -- Take the slot of the lowest unclaimed row at or above the fresh cursor, and only the run of
    -- rows in that slot that precedes any row of another slot: the emission then covers exactly
    -- the rows it claims.
    RETURN QUERY
    WITH cand AS (
      SELECT r.ready_slot, r.lane_seq, r.job_id, r.run_lease, r.attempt, r.max_attempts, r.kind,
        r.args, r.created_at, r.run_at, r.tags, r.metadata, r.errors, r.progress, r.unique_key
      FROM awa.ready_entries r
      WHERE r.queue = p_queue AND r.priority = v_lane.prio AND r.enqueue_shard = v_lane.shard
        AND r.lane_seq >= v_cursor
        AND NOT EXISTS (
          SELECT 1 FROM awa.ready_tombstones t
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
    ), picked AS (
      SELECT c.*, (row_number() OVER (ORDER BY c.lane_seq) - 1)::int AS i
      FROM cand c, head, cut
      WHERE c.ready_slot = head.ready_slot AND (cut.lane_seq IS NULL OR c.lane_seq < cut.lane_seq)
    ), ring AS MATERIALIZED (
      SELECT rr.slot, rr.generation FROM awa.ring_rotations rr
      WHERE rr.ring = 'claim' ORDER BY rr.generation DESC LIMIT 1
    ), batch AS (
      INSERT INTO awa.claim_batches AS b (
        claim_slot, generation, batch_id, instance_id, queue, priority, enqueue_shard, ready_slot,
        claimed_count, job_ids, run_leases, lane_seqs, attempts, claimed_at, deadline_at,
        has_unique
      )
      SELECT ring.slot, ring.generation, nextval('awa.claim_batch_id_seq'), p_instance, p_queue,
        v_lane.prio, v_lane.shard, min(p.ready_slot), count(*),
        array_agg(p.job_id ORDER BY p.i), array_agg(p.run_lease + 1 ORDER BY p.i),
        array_agg(p.lane_seq ORDER BY p.i), array_agg((p.attempt + 1)::smallint ORDER BY p.i),
        v_now,
        CASE WHEN p_deadline_s > 0 THEN v_now + make_interval(secs => p_deadline_s) END,
        bool_or(p.unique_key IS NOT NULL)
      FROM picked p, ring
      GROUP BY ring.slot, ring.generation
      RETURNING b.claim_slot, b.batch_id, b.ready_slot, b.deadline_at
    ), emitted AS (
      INSERT INTO awa.claim_emissions (
        ready_slot, queue, priority, enqueue_shard, first_lane_seq, next_lane_seq, claimed_count,
        claim_slot, batch_id
      )
      SELECT batch.ready_slot, p_queue, v_lane.prio, v_lane.shard, min(p.lane_seq),
        max(p.lane_seq) + 1, count(*), batch.claim_slot, batch.batch_id
      FROM picked p, batch
      GROUP BY batch.ready_slot, batch.claim_slot, batch.batch_id
    )
    SELECT batch.claim_slot, batch.batch_id, p.i, p.job_id, p.run_lease + 1,
      (p.attempt + 1)::smallint, p.max_attempts, p.kind, p.args, v_lane.prio, p.created_at,
      p.run_at, p.tags, p.metadata, p.errors, p.progress, v_now, batch.deadline_at
    FROM picked p, batch;

    GET DIAGNOSTICS v_got = ROW_COUNT;
    v_remaining := v_remaining - v_got;
  END LOOP;
END
$$;

-- Retry delay for a failed attempt number `a` (features.md §3): min(2^a + U·0.25·2^a, 24 h).
CREATE FUNCTION awa.backoff_duration(p_attempt int, p_max_attempts int)
RETURNS interval LANGUAGE sql VOLATILE AS $$
  SELECT make_interval(secs => least(
    power(2, least(p_attempt, 30)) + random() * 0.25 * power(2, least(p_attempt, 30)), 86400
  ))
$$;

-- Attempt locks use the two-int advisory form, a lock space apart from every bigint key Awa
-- takes (lanes, rings, leader), so a collision can only serialize two attempts, never block a
-- lane or the leader. Computing them is cheap, which matters at 512 items per flush.
CREATE FUNCTION awa.attempt_lock(p_job_id bigint, p_run_lease bigint)
RETURNS void LANGUAGE sql VOLATILE AS $$
  SELECT pg_advisory_xact_lock((p_job_id % 2147483647)::int, (p_run_lease % 2147483647)::int)
$$;

CREATE FUNCTION awa.attempt_try_lock(p_job_id bigint, p_run_lease bigint)
RETURNS boolean LANGUAGE sql VOLATILE AS $$
  SELECT pg_try_advisory_xact_lock((p_job_id % 2147483647)::int, (p_run_lease % 2147483647)::int)
$$;

-- Finalize attempts. p_items is a JSON array of
--   {claim_slot, batch_id, idx, job_id, run_lease, outcome, delay_s?, error?, result?, progress?}
-- with outcome one of completed | retry | fail | snooze | cancel, or rescue_<kind> (retry with
-- backoff, recorded under that closure outcome). An item applies only if its receipt is open at
-- commit; the rest are stale and absent from the result. p_try: take attempt locks with the try
-- form and skip busy attempts (rescue), instead of waiting (workers, admin).
-- Returns one row per applied item with the state the job reached.
CREATE FUNCTION awa.finalize_attempts(p_items jsonb, p_try boolean DEFAULT false,
  p_dlq_default boolean DEFAULT false)
RETURNS TABLE (
  job_id bigint, run_lease bigint, outcome text, state text, held text, run_at timestamptz,
  queue text, kind text, attempt smallint, max_attempts smallint
) LANGUAGE plpgsql VOLATILE
SET plan_cache_mode = force_generic_plan SET jit = off
AS $$
DECLARE
  v_items jsonb := p_items;
  v_any_state boolean;
BEGIN
  -- Attempt locks first, sorted, so two finalizers can never wait on each other in a cycle.
  -- Rescue (p_try) skips busy attempts: only the items it could lock go on.
  IF p_try THEN
    SELECT coalesce(jsonb_agg(o.x), '[]') INTO v_items FROM (
      SELECT x FROM jsonb_array_elements(p_items) x
      ORDER BY (x ->> 'job_id')::bigint, (x ->> 'run_lease')::bigint
    ) o
    WHERE awa.attempt_try_lock((o.x ->> 'job_id')::bigint, (o.x ->> 'run_lease')::bigint);
  ELSE
    PERFORM awa.attempt_lock(k.job_id, k.run_lease) FROM (
      SELECT DISTINCT x.job_id, x.run_lease
      FROM jsonb_to_recordset(p_items) AS x(job_id bigint, run_lease bigint)
      ORDER BY x.job_id, x.run_lease
    ) k;
  END IF;

  -- Attempt state exists only for attempts that saved progress; when there is none at all,
  -- the per-item probes and deletes below are skipped by a one-time filter.
  v_any_state := EXISTS (SELECT 1 FROM awa.attempt_state);

  -- A fresh statement: closures committed by whoever held a lock before us are visible now.
  -- MATERIALIZED: the ready-row join below must see lane_seq as a plain value to use the
  -- lane-first primary key, not an expression over two relations.
  RETURN QUERY
  WITH items AS MATERIALIZED (
    SELECT DISTINCT ON (i.batch_id, i.idx) i.*
    FROM jsonb_to_recordset(v_items) AS i(
      claim_slot smallint, batch_id bigint, idx int, job_id bigint, run_lease bigint,
      outcome text, delay_s double precision, error text, result jsonb, progress jsonb
    )
    ORDER BY i.batch_id, i.idx
  ), receipts AS MATERIALIZED (
    -- Each batch's arrays are unnested once: subscripting them per item would detoast the
    -- whole (TOASTed, kilobytes-long) arrays once per item.
    SELECT b.claim_slot, b.batch_id, b.ready_slot, b.queue, b.priority, b.enqueue_shard,
      b.claimed_at, b.has_unique, u.job_id, u.run_lease, u.lane_seq, u.attempt, (u.n - 1)::int AS idx
    FROM (SELECT DISTINCT i.claim_slot, i.batch_id FROM items i) k
    JOIN awa.claim_batches b ON b.claim_slot = k.claim_slot AND b.batch_id = k.batch_id
    CROSS JOIN LATERAL unnest(b.job_ids, b.run_leases, b.lane_seqs, b.attempts)
      WITH ORDINALITY AS u(job_id, run_lease, lane_seq, attempt, n)
  ), batch_closures AS MATERIALIZED (
    -- Closures touching each batch's receipt block, fetched once per batch rather than probed
    -- once per item.
    SELECT c.claim_slot, c.receipt_ranges
    FROM (SELECT DISTINCT i.claim_slot, i.batch_id FROM items i) k
    JOIN awa.claim_closures c ON c.claim_slot = k.claim_slot
      AND c.receipt_ranges && int8range(k.batch_id * 65536, (k.batch_id + 1) * 65536)
  ), live AS MATERIALIZED (
    SELECT i.*, b.ready_slot, b.queue AS b_queue, b.priority AS b_priority,
      b.enqueue_shard, b.lane_seq, b.attempt AS b_attempt,
      b.claimed_at, i.batch_id * 65536 + i.idx AS receipt,
      i.outcome <> 'completed' OR b.has_unique AS needs_body
    FROM items i
    JOIN receipts b ON b.claim_slot = i.claim_slot AND b.batch_id = i.batch_id AND b.idx = i.idx
    WHERE b.job_id = i.job_id AND b.run_lease = i.run_lease
      AND NOT EXISTS (
        SELECT 1 FROM batch_closures c
        WHERE c.claim_slot = i.claim_slot AND c.receipt_ranges @> (i.batch_id * 65536 + i.idx)
      )
  ), body AS (
    SELECT l.*, r.kind AS r_kind, r.args, r.max_attempts AS r_max_attempts, r.created_at,
      r.tags, r.metadata, r.errors AS old_errors, r.unique_key, r.unique_states,
      coalesce(l.progress, s.progress, r.progress) AS new_progress,
      coalesce(m.dlq_enabled, p_dlq_default) AS dlq_enabled
    FROM live l
    -- The ready row (the job's body) is read only when the outcome needs it: a completion
    -- without a unique claim writes nothing from it. OFFSET 0 keeps the subquery from being
    -- flattened, so l.needs_body gates the probe instead of filtering after it.
    LEFT JOIN LATERAL (
      SELECT r.* FROM awa.ready_entries r
      WHERE l.needs_body AND r.ready_slot = l.ready_slot AND r.queue = l.b_queue
        AND r.priority = l.b_priority AND r.enqueue_shard = l.enqueue_shard
        AND r.lane_seq = l.lane_seq
      OFFSET 0
    ) r ON true
    LEFT JOIN awa.attempt_state s
      ON v_any_state AND s.job_id = l.job_id AND s.run_lease = l.run_lease
    LEFT JOIN awa.queue_meta m ON m.queue = l.b_queue
    WHERE r.job_id IS NOT NULL OR NOT l.needs_body
  ), resolved AS (
    SELECT b.*,
      CASE
        WHEN b.outcome = 'completed' THEN 'completed'
        WHEN b.outcome = 'cancel' THEN 'cancelled'
        WHEN b.outcome = 'snooze' THEN 'scheduled'
        WHEN b.outcome = 'fail' THEN 'failed'
        WHEN b.b_attempt >= b.r_max_attempts THEN 'failed'
        ELSE 'retryable'
      END::awa.job_state AS new_state,
      CASE
        WHEN b.outcome = 'fail' THEN 'terminal_error'
        WHEN b.outcome IN ('retry') OR b.outcome LIKE 'rescue_%' THEN 'max_attempts_exhausted'
      END AS fail_reason,
      CASE
        WHEN b.outcome IN ('completed', 'snooze') THEN b.old_errors
        ELSE coalesce(b.old_errors, '[]'::jsonb) || jsonb_build_array(
          jsonb_strip_nulls(jsonb_build_object(
            'error', CASE WHEN b.outcome = 'cancel'
              THEN 'cancelled: ' || coalesce(b.error, '') ELSE coalesce(b.error, b.outcome) END,
            'attempt', b.b_attempt, 'at', clock_timestamp(),
            'terminal', CASE WHEN b.outcome = 'fail' THEN true END
          )))
      END AS new_errors
    FROM body b
  ), closed AS (
    INSERT INTO awa.claim_closures (claim_slot, ready_slot, outcome, closed_count, receipt_ranges)
    SELECT r.claim_slot, r.ready_slot, r.outcome, count(*),
      range_agg(int8range(r.receipt, r.receipt + 1))
    FROM resolved r
    GROUP BY r.claim_slot, r.ready_slot, r.outcome
  ), done AS (
    INSERT INTO awa.done_entries (
      ready_slot, job_id, run_lease, queue, priority, state, attempt, attempted_at, finalized_at,
      result, errors, progress
    )
    SELECT r.ready_slot, r.job_id, r.run_lease, r.b_queue, r.b_priority, r.new_state, r.b_attempt,
      r.claimed_at, clock_timestamp(), r.result,
      CASE WHEN r.new_state = 'completed' THEN NULL ELSE r.new_errors END,
      CASE WHEN r.new_state = 'completed' THEN NULL ELSE r.new_progress END
    FROM resolved r WHERE r.new_state IN ('completed', 'cancelled')
  ), deferred AS (
    INSERT INTO awa.deferred_jobs (
      job_id, state, run_at, queue, priority, kind, args, attempt, run_lease, max_attempts,
      created_at, tags, metadata, errors, progress, unique_key, unique_states
    )
    SELECT r.job_id, r.new_state,
      clock_timestamp() + CASE
        WHEN r.delay_s IS NOT NULL THEN make_interval(secs => greatest(r.delay_s, 0))
        ELSE awa.backoff_duration(r.b_attempt, r.r_max_attempts) END,
      r.b_queue, r.b_priority, r.r_kind, r.args,
      CASE WHEN r.new_state = 'scheduled' THEN r.b_attempt - 1 ELSE r.b_attempt END,
      r.run_lease, r.r_max_attempts, r.created_at, r.tags, r.metadata, r.new_errors,
      r.new_progress, r.unique_key, r.unique_states
    FROM resolved r WHERE r.new_state IN ('retryable', 'scheduled')
    RETURNING deferred_jobs.job_id, deferred_jobs.run_at
  ), held AS (
    INSERT INTO awa.dlq_entries (
      job_id, hold_kind, reason, original_run_lease, queue, priority, kind, args, attempt,
      max_attempts, created_at, attempted_at, tags, metadata, errors, progress, unique_key,
      unique_states
    )
    SELECT r.job_id, CASE WHEN r.dlq_enabled THEN 'dlq' ELSE 'failed' END, r.fail_reason,
      r.run_lease, r.b_queue, r.b_priority, r.r_kind, r.args, r.b_attempt, r.r_max_attempts,
      r.created_at, r.claimed_at, r.tags, r.metadata, r.new_errors, r.new_progress, r.unique_key,
      r.unique_states
    FROM resolved r WHERE r.new_state = 'failed'
    RETURNING dlq_entries.job_id, dlq_entries.hold_kind
  ), state_gone AS (
    DELETE FROM awa.attempt_state s USING resolved r
    WHERE v_any_state AND s.job_id = r.job_id AND s.run_lease = r.run_lease
  ), unique_released AS (
    DELETE FROM awa.job_unique_claims u USING resolved r
    WHERE r.unique_key IS NOT NULL AND u.unique_key = r.unique_key AND u.job_id = r.job_id
      AND NOT awa.mask_has(r.unique_states, r.new_state)
  ), cancel_notice AS (
    SELECT pg_notify('awa:cancel', json_build_object('job_id', r.job_id,
      'run_lease', r.run_lease)::text)
    FROM resolved r WHERE r.outcome = 'cancel' OR r.outcome LIKE 'rescue_%'
  )
  SELECT r.job_id, r.run_lease, r.outcome, r.new_state::text, h.hold_kind, d.run_at, r.b_queue,
    r.r_kind, r.b_attempt, r.r_max_attempts
  FROM resolved r
  LEFT JOIN deferred d ON d.job_id = r.job_id
  LEFT JOIN held h ON h.job_id = r.job_id
  WHERE (SELECT count(*) FROM cancel_notice) >= 0;
END
$$;

-- Write progress of open attempts (flushProgress / heartbeat). Items: {claim_slot, batch_id, idx,
-- job_id, run_lease, progress}. Returns the (job_id, run_lease) pairs that were still open.
CREATE FUNCTION awa.write_progress(p_items jsonb)
RETURNS TABLE (job_id bigint, run_lease bigint) LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  RETURN QUERY
  WITH items AS (
    SELECT i.* FROM jsonb_to_recordset(p_items) AS i(
      claim_slot smallint, batch_id bigint, idx int, job_id bigint, run_lease bigint,
      progress jsonb
    )
  ), live AS (
    SELECT i.* FROM items i
    JOIN awa.claim_batches b ON b.claim_slot = i.claim_slot AND b.batch_id = i.batch_id
    WHERE b.job_ids[i.idx + 1] = i.job_id AND b.run_leases[i.idx + 1] = i.run_lease
      AND NOT EXISTS (
        SELECT 1 FROM awa.claim_closures c
        WHERE c.claim_slot = i.claim_slot AND c.receipt_ranges @> (i.batch_id * 65536 + i.idx)
      )
  ), up AS (
    INSERT INTO awa.attempt_state AS s (job_id, run_lease, receipt_id, claim_slot, progress)
    SELECT l.job_id, l.run_lease, l.batch_id * 65536 + l.idx, l.claim_slot, l.progress FROM live l
    ON CONFLICT ON CONSTRAINT attempt_state_pkey
    DO UPDATE SET progress = excluded.progress, updated_at = now()
    RETURNING s.job_id, s.run_lease
  )
  SELECT up.job_id, up.run_lease FROM up;
END
$$;

-- Heartbeat: one row per claim slot listing the receipts a runtime still runs.
-- p_receipts: [{claim_slot, receipt}] with receipt = batch_id * 65536 + idx.
CREATE FUNCTION awa.record_heartbeat(p_instance uuid, p_receipts jsonb)
RETURNS void LANGUAGE sql VOLATILE AS $$
  INSERT INTO awa.attempt_heartbeats (claim_slot, instance_id, beat_at, receipt_ranges)
  SELECT (x ->> 'claim_slot')::smallint, p_instance, clock_timestamp(),
    range_agg(int8range((x ->> 'receipt')::bigint, (x ->> 'receipt')::bigint + 1))
  FROM jsonb_array_elements(p_receipts) x
  GROUP BY 1;
  UPDATE awa.runtime_instances SET last_seen_at = clock_timestamp() WHERE instance_id = p_instance;
$$;
