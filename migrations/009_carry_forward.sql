-- Queue-ring prune carries live rows forward (issue 9 item 17).
--
-- A queue that nobody serves, or that is paused, keeps unclaimed ready rows in the oldest
-- queue-ring slot. Gate (b) then refused the prune, rotation could not enter the slot, and
-- every table grew for as long as the queue stayed unserved. Now, when the only thing keeping
-- the oldest slot alive is a bounded number of live rows (untombstoned, at or above their
-- lane's cursor), prune copies those rows into the current slot and truncates the old one, in
-- the same transaction and under the slot's ACCESS EXCLUSIVE lock.
--
-- A carried row keeps its lane and its lane_seq, so FIFO order, shard, priority, run_at and
-- the body are unchanged; only ready_slot and the informational generation change. Why the
-- claim cursor C(L) = max(next_lane_seq) stays exact:
--   * a live row is one with lane_seq >= C(L): no emission covers it, so dropping the old
--     slot's emissions at truncate cannot make it look claimed, and a row that was claimed
--     is never carried;
--   * every claimed row keeps its emission in its own slot, so truncating any slot can lower
--     C(L) only below rows that went with it;
--   * the claim takes the head slot's run of rows cut at the first row of another slot, so
--     rows of one lane spread over slots in any order are still claimed in lane_seq order,
--     each emission covering exactly rows of its own slot.
-- Nothing that refers to an unclaimed row by its slot exists: claims, closures and terminal
-- rows only ever refer to claimed rows, which stay where they are.

-- Gate (a) of a queue-ring slot: every claim emitted from it has been closed.
CREATE FUNCTION awa.slot_claims_closed(p_slot smallint)
RETURNS boolean LANGUAGE sql STABLE AS $$
  SELECT (SELECT coalesce(sum(claimed_count), 0) FROM awa.claim_batches WHERE ready_slot = p_slot)
    = (SELECT coalesce(sum(closed_count), 0) FROM awa.claim_closures WHERE ready_slot = p_slot)
$$;

-- Live rows of a queue-ring slot (gate (b) fails while there is one): untombstoned rows at or
-- above their lane's cursor. The cursor is computed once per lane present in the slot.
CREATE FUNCTION awa.slot_live_rows(p_slot smallint)
RETURNS SETOF awa.ready_entries LANGUAGE sql STABLE AS $$
  WITH lanes AS MATERIALIZED (
    -- MATERIALIZED: otherwise the planner evaluates the cursor once per row instead of per lane.
    SELECT l.queue, l.priority, l.enqueue_shard,
      awa.lane_cursor(l.queue, l.priority, l.enqueue_shard) AS c
    FROM (
      SELECT DISTINCT x.queue, x.priority, x.enqueue_shard FROM awa.ready_entries x
      WHERE x.ready_slot = p_slot
    ) l
  )
  SELECT r.*
  FROM lanes l
  JOIN awa.ready_entries r
    ON r.ready_slot = p_slot AND r.queue = l.queue AND r.priority = l.priority
    AND r.enqueue_shard = l.enqueue_shard AND r.lane_seq >= l.c
  WHERE NOT EXISTS (
    SELECT 1 FROM awa.ready_tombstones t
    WHERE t.ready_slot = r.ready_slot AND t.queue = r.queue AND t.priority = r.priority
      AND t.enqueue_shard = r.enqueue_shard AND t.lane_seq = r.lane_seq
  )
$$;

-- Number of live rows in a queue-ring slot, counting at most p_cap + 1.
CREATE FUNCTION awa.slot_live_count(p_slot smallint, p_cap int)
RETURNS int LANGUAGE sql STABLE AS $$
  SELECT count(*)::int FROM (SELECT 1 FROM awa.slot_live_rows(p_slot) LIMIT p_cap + 1) x
$$;

-- The old two-argument form would make calls with defaults ambiguous.
DROP FUNCTION awa.prune_ring(text, text);

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
CREATE FUNCTION awa.prune_ring(p_ring text, p_lock_timeout text DEFAULT '10ms',
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
  v_live int := 0;
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
  -- Carry only once the ring has wrapped: then the target is the slot the next rotation needs.
  -- Before that, rotation is not waiting for it and its rows are young.
  v_limit := CASE WHEN v_gen + 1 >= v_n THEN greatest(coalesce(p_carry_limit, 0), 0) ELSE 0 END;
  IF awa.ring_slot_empty(p_ring, v_target) THEN
    RETURN 'already_pruned';
  END IF;
  IF p_ring = 'claim' THEN
    IF NOT awa.prune_gates_pass(p_ring, v_target) THEN
      RETURN 'skipped_live';
    END IF;
  ELSE
    IF NOT awa.slot_claims_closed(v_target) THEN
      RETURN 'skipped_live';
    END IF;
    IF awa.slot_live_count(v_target, v_limit) > v_limit THEN
      RETURN CASE WHEN v_limit > 0 THEN 'skipped_carry_limit' ELSE 'skipped_live' END;
    END IF;
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

  -- Recheck in fresh statements: writers that committed while we waited are visible now, and
  -- nobody can claim, cancel or append in the slot until we commit.
  IF p_ring = 'claim' THEN
    IF NOT awa.prune_gates_pass(p_ring, v_target) THEN
      RETURN 'skipped_live';
    END IF;
  ELSE
    IF NOT awa.slot_claims_closed(v_target) THEN
      RETURN 'skipped_live';
    END IF;
    v_live := awa.slot_live_count(v_target, v_limit);
    IF v_live > v_limit THEN
      RETURN CASE WHEN v_limit > 0 THEN 'skipped_carry_limit' ELSE 'skipped_live' END;
    END IF;
    IF v_live > 0 THEN
      -- The ring lock keeps the cursor where it is until commit.
      INSERT INTO awa.ready_entries (
        ready_slot, generation, queue, priority, enqueue_shard, lane_seq, job_id, kind, args,
        attempt, run_lease, max_attempts, run_at, created_at, tags, metadata, errors, progress,
        unique_key, unique_states
      )
      SELECT v_slot, v_gen, r.queue, r.priority, r.enqueue_shard, r.lane_seq, r.job_id, r.kind,
        r.args, r.attempt, r.run_lease, r.max_attempts, r.run_at, r.created_at, r.tags,
        r.metadata, r.errors, r.progress, r.unique_key, r.unique_states
      FROM awa.slot_live_rows(v_target) r;
    END IF;
    INSERT INTO awa.terminal_rollup_deltas (queue, state, delta)
    SELECT queue, state, count(*) FROM awa.done_entries WHERE ready_slot = v_target
    GROUP BY queue, state;
  END IF;
  EXECUTE 'TRUNCATE ' || array_to_string(v_tables, ', ');
  RETURN CASE WHEN v_live > 0 THEN 'carried' ELSE 'pruned' END;
END
$$;
