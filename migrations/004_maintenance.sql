-- Maintenance: promotion, rescue, ring rotation and prune, operator actions, the jobs view.

-- Move due deferred jobs (scheduled, retryable) of unpaused queues back into their lanes.
CREATE FUNCTION awa.promote_due(p_limit int DEFAULT 4096)
RETURNS int LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_rows awa.deferred_jobs[];
  v_group record;
  v_shard smallint;
  v_base bigint;
  v_total int := 0;
BEGIN
  WITH due AS (
    DELETE FROM awa.deferred_jobs d
    WHERE d.job_id IN (
      SELECT x.job_id FROM awa.deferred_jobs x
      WHERE x.run_at <= clock_timestamp()
        AND NOT EXISTS (SELECT 1 FROM awa.queue_meta m WHERE m.queue = x.queue AND m.paused)
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
  INSERT INTO awa.job_unique_claims (unique_key, job_id)
  SELECT r.unique_key, r.job_id FROM unnest(v_rows) r
  WHERE r.unique_key IS NOT NULL AND awa.mask_has(r.unique_states, 'available')
    AND NOT awa.mask_has(r.unique_states, r.state)
  ORDER BY r.unique_key
  ON CONFLICT (unique_key) DO NOTHING;

  FOR v_group IN
    SELECT r.queue, r.priority, count(*) AS n FROM unnest(v_rows) r
    GROUP BY r.queue, r.priority ORDER BY r.queue, r.priority
  LOOP
    v_shard := awa.lock_enqueue_lane(v_group.queue, v_group.priority, NULL);
    v_base := nextval('awa.lane_block_seq');
    INSERT INTO awa.ready_entries (
      ready_slot, generation, queue, priority, enqueue_shard, lane_seq, job_id, kind, args,
      attempt, run_lease, max_attempts, run_at, created_at, tags, metadata, errors, progress,
      unique_key, unique_states
    )
    SELECT c.slot, c.generation, r.queue, r.priority, v_shard,
      v_base + row_number() OVER (ORDER BY r.run_at, r.job_id) - 1, r.job_id, r.kind, r.args,
      r.attempt, r.run_lease, r.max_attempts, r.run_at, r.created_at, r.tags, r.metadata,
      r.errors, r.progress, r.unique_key, r.unique_states
    FROM unnest(v_rows) r, (
      SELECT rr.slot, rr.generation FROM awa.ring_rotations rr
      WHERE rr.ring = 'queue' ORDER BY rr.generation DESC LIMIT 1
    ) c
    WHERE r.queue = v_group.queue AND r.priority = v_group.priority;
    PERFORM pg_notify('awa:' || v_group.queue, '');
    v_total := v_total + v_group.n;
  END LOOP;
  RETURN v_total;
END
$$;

-- Open attempts that rescue should close. kind 'heartbeat': claimed before the cutoff and not
-- listed in a heartbeat at or after it; kind 'deadline': past the batch deadline.
CREATE FUNCTION awa.rescue_candidates(p_kind text, p_staleness_s double precision, p_limit int)
RETURNS jsonb LANGUAGE sql STABLE AS $$
  SELECT coalesce(jsonb_agg(jsonb_build_object(
    'claim_slot', c.claim_slot, 'batch_id', c.batch_id, 'idx', c.idx, 'job_id', c.job_id,
    'run_lease', c.run_lease, 'outcome', 'rescue_' || p_kind,
    'error', CASE p_kind WHEN 'heartbeat' THEN 'heartbeat stale: the worker stopped reporting'
      ELSE 'deadline exceeded' END
  )), '[]')
  FROM (
    SELECT b.claim_slot, b.batch_id, (u.ord - 1)::int AS idx, u.job_id, u.run_lease
    FROM awa.claim_batches b
    CROSS JOIN LATERAL unnest(b.job_ids, b.run_leases) WITH ORDINALITY AS u(job_id, run_lease, ord)
    WHERE (
        (p_kind = 'heartbeat' AND b.claimed_at < clock_timestamp() - make_interval(secs => p_staleness_s))
        OR (p_kind = 'deadline' AND b.deadline_at < clock_timestamp())
      )
      AND NOT EXISTS (
        SELECT 1 FROM awa.claim_closures c
        WHERE c.claim_slot = b.claim_slot AND c.receipt_ranges @> (b.batch_id * 65536 + u.ord - 1)
      )
      AND NOT EXISTS (
        SELECT 1 FROM awa.attempt_state s
        WHERE s.job_id = u.job_id AND s.run_lease = u.run_lease AND s.state = 'waiting_external'
      )
      AND (p_kind <> 'heartbeat' OR NOT EXISTS (
        SELECT 1 FROM awa.attempt_heartbeats h
        WHERE h.claim_slot = b.claim_slot
          AND h.beat_at >= clock_timestamp() - make_interval(secs => p_staleness_s)
          AND h.receipt_ranges @> (b.batch_id * 65536 + u.ord - 1)
      ))
    ORDER BY b.claimed_at
    LIMIT p_limit
  ) c
$$;

CREATE FUNCTION awa.ring_lock_key(p_ring text)
RETURNS bigint LANGUAGE sql IMMUTABLE AS $$
  SELECT hashtextextended('awa.ring/' || p_ring, 4)
$$;

-- Current slot and generation of a ring (the newest ledger row), with the ring's size.
CREATE FUNCTION awa.ring_cursor(p_ring text)
RETURNS TABLE (slot smallint, generation bigint, slot_count smallint)
LANGUAGE sql STABLE AS $$
  SELECT r.slot, r.generation, c.slot_count
  FROM awa.ring_rotations r JOIN awa.ring_config c USING (ring)
  WHERE r.ring = p_ring ORDER BY r.generation DESC LIMIT 1
$$;

-- True when no row of any table of the ring lives in `p_slot`.
CREATE FUNCTION awa.ring_slot_empty(p_ring text, p_slot smallint)
RETURNS boolean LANGUAGE sql STABLE AS $$
  SELECT CASE p_ring
    WHEN 'queue' THEN
      NOT EXISTS (SELECT 1 FROM awa.ready_entries WHERE ready_slot = p_slot)
      AND NOT EXISTS (SELECT 1 FROM awa.ready_tombstones WHERE ready_slot = p_slot)
      AND NOT EXISTS (SELECT 1 FROM awa.claim_emissions WHERE ready_slot = p_slot)
      AND NOT EXISTS (SELECT 1 FROM awa.done_entries WHERE ready_slot = p_slot)
    ELSE
      NOT EXISTS (SELECT 1 FROM awa.claim_batches WHERE claim_slot = p_slot)
      AND NOT EXISTS (SELECT 1 FROM awa.claim_closures WHERE claim_slot = p_slot)
  END
$$;

-- Rotate a ring to its next slot. Outcomes: rotated, skipped_busy (lock held, or the incoming
-- slot still holds rows), skipped_idle (nothing in the ring: idle rings do not churn), lost_race.
CREATE FUNCTION awa.rotate_ring(p_ring text)
RETURNS text LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_slot smallint;
  v_gen bigint;
  v_n smallint;
  v_next smallint;
  v_any boolean;
BEGIN
  IF NOT pg_try_advisory_xact_lock(awa.ring_lock_key(p_ring)) THEN
    RETURN 'skipped_busy';
  END IF;
  SELECT c.slot, c.generation, c.slot_count INTO v_slot, v_gen, v_n FROM awa.ring_cursor(p_ring) c;
  v_next := mod(v_slot + 1, v_n);
  IF NOT awa.ring_slot_empty(p_ring, v_next) THEN
    RETURN 'skipped_busy';
  END IF;
  IF p_ring = 'queue' THEN
    v_any := EXISTS (SELECT 1 FROM awa.ready_entries) OR EXISTS (SELECT 1 FROM awa.done_entries);
  ELSE
    v_any := EXISTS (SELECT 1 FROM awa.claim_batches);
  END IF;
  IF NOT v_any THEN
    RETURN 'skipped_idle';
  END IF;
  INSERT INTO awa.ring_rotations (ring, generation, slot) VALUES (p_ring, v_gen + 1, v_next)
  ON CONFLICT DO NOTHING;
  IF NOT FOUND THEN
    RETURN 'lost_race';
  END IF;
  RETURN 'rotated';
END
$$;

-- Gates of a prune target. Queue ring: (a) every claim emitted from the slot is closed, (b) no
-- lane has an unclaimed, untombstoned row in it. Claim ring: every receipt in the slot is closed.
-- Gates cover the whole slot, never filtered by generation, so late writers are seen.
CREATE FUNCTION awa.prune_gates_pass(p_ring text, p_slot smallint)
RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  IF p_ring = 'claim' THEN
    RETURN (SELECT coalesce(sum(claimed_count), 0) FROM awa.claim_batches WHERE claim_slot = p_slot)
      = (SELECT coalesce(sum(closed_count), 0) FROM awa.claim_closures WHERE claim_slot = p_slot);
  END IF;
  IF (SELECT coalesce(sum(claimed_count), 0) FROM awa.claim_batches WHERE ready_slot = p_slot)
     <> (SELECT coalesce(sum(closed_count), 0) FROM awa.claim_closures WHERE ready_slot = p_slot)
  THEN
    RETURN false;
  END IF;
  RETURN NOT EXISTS (
    SELECT 1 FROM (
      SELECT r.queue, r.priority, r.enqueue_shard, max(r.lane_seq) AS top
      FROM awa.ready_entries r
      WHERE r.ready_slot = p_slot
        AND NOT EXISTS (
          SELECT 1 FROM awa.ready_tombstones t
          WHERE t.ready_slot = r.ready_slot AND t.queue = r.queue AND t.priority = r.priority
            AND t.enqueue_shard = r.enqueue_shard AND t.lane_seq = r.lane_seq
        )
      GROUP BY r.queue, r.priority, r.enqueue_shard
    ) l
    WHERE l.top >= awa.lane_cursor(l.queue, l.priority, l.enqueue_shard)
  );
END
$$;

-- Prune the oldest slot of a ring by TRUNCATE once its gates pass. Outcomes: pruned,
-- already_pruned, nothing (ring not wrapped far enough), skipped_busy, skipped_live (a gate
-- failed), blocked (ACCESS EXCLUSIVE not granted within lock_timeout).
CREATE FUNCTION awa.prune_ring(p_ring text, p_lock_timeout text DEFAULT '10ms')
RETURNS text LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_slot smallint;
  v_gen bigint;
  v_n smallint;
  v_k bigint;
  v_target smallint;
  v_tables text[];
BEGIN
  IF NOT pg_try_advisory_xact_lock(awa.ring_lock_key(p_ring)) THEN
    RETURN 'skipped_busy';
  END IF;
  SELECT c.slot, c.generation, c.slot_count INTO v_slot, v_gen, v_n FROM awa.ring_cursor(p_ring) c;
  v_k := least(v_gen + 1, v_n);
  IF v_k < 2 THEN
    RETURN 'nothing';
  END IF;
  v_target := mod(v_slot - (v_k - 1) + v_n, v_n);
  IF awa.ring_slot_empty(p_ring, v_target) THEN
    RETURN 'already_pruned';
  END IF;
  IF NOT awa.prune_gates_pass(p_ring, v_target) THEN
    RETURN 'skipped_live';
  END IF;

  IF p_ring = 'queue' THEN
    -- Completed jobs leave retention with this slot; their unique claims go with them. Taken
    -- before the partition locks to keep the global lock order (unique claims before partitions).
    DELETE FROM awa.job_unique_claims u USING awa.done_entries d
    WHERE d.ready_slot = v_target AND d.state = 'completed' AND u.job_id = d.job_id;
    v_tables := ARRAY['awa.ready_entries_', 'awa.ready_tombstones_', 'awa.claim_emissions_',
      'awa.done_entries_'];
  ELSE
    v_tables := ARRAY['awa.claim_batches_', 'awa.claim_closures_', 'awa.attempt_heartbeats_'];
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

  -- Recheck in fresh statements: writers that committed while we waited are visible now.
  IF NOT awa.prune_gates_pass(p_ring, v_target) THEN
    RETURN 'skipped_live';
  END IF;
  IF p_ring = 'queue' THEN
    INSERT INTO awa.terminal_rollup_deltas (queue, state, delta)
    SELECT queue, state, count(*) FROM awa.done_entries WHERE ready_slot = v_target
    GROUP BY queue, state;
  END IF;
  EXECUTE 'TRUNCATE ' || array_to_string(v_tables, ', ');
  RETURN 'pruned';
END
$$;

-- Fold rollup deltas and trim the rotation ledger (small deletes; run every ~30 s).
CREATE FUNCTION awa.fold_and_trim()
RETURNS void LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  WITH moved AS (
    DELETE FROM awa.terminal_rollup_deltas RETURNING queue, state, delta
  ), summed AS (
    SELECT queue, state, sum(delta) AS delta FROM moved GROUP BY queue, state
  )
  INSERT INTO awa.terminal_rollups AS t (queue, state, total)
  SELECT queue, state, greatest(delta, 0) FROM summed
  ON CONFLICT (queue, state) DO UPDATE SET total = greatest(t.total + excluded.total, 0);

  DELETE FROM awa.ring_rotations r
  USING awa.ring_config c
  WHERE r.ring = c.ring
    AND r.generation < (SELECT max(generation) FROM awa.ring_rotations x WHERE x.ring = r.ring)
      - c.slot_count;
END
$$;
