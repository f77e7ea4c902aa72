-- Operator actions and the read-only jobs view.

-- Where a job currently is: the newest ready row, and whether its lane has emitted it. Newest by
-- position (lane positions come from one global sequence), not by run_lease: a DLQ retry starts
-- the job again at run_lease 0, below the leases of its older rows.
CREATE FUNCTION awa.locate_ready(p_job_id bigint)
RETURNS TABLE (ready_slot smallint, queue text, priority smallint, enqueue_shard smallint,
  lane_seq bigint, run_lease bigint, claim_slot smallint, batch_id bigint, first_lane_seq bigint)
LANGUAGE sql STABLE AS $$
  SELECT r.ready_slot, r.queue, r.priority, r.enqueue_shard, r.lane_seq, r.run_lease,
    e.claim_slot, e.batch_id, e.first_lane_seq
  FROM awa.ready_entries r
  LEFT JOIN awa.claim_emissions e
    ON e.ready_slot = r.ready_slot AND e.queue = r.queue AND e.priority = r.priority
    AND e.enqueue_shard = r.enqueue_shard
    AND r.lane_seq >= e.first_lane_seq AND r.lane_seq < e.next_lane_seq
  WHERE r.job_id = p_job_id
  ORDER BY r.lane_seq DESC
  LIMIT 1
$$;

-- Cancel one job wherever it waits or runs. Returns the state it reached ('cancelled'), or null
-- when the job is unknown or already terminal. A running attempt is closed through the guarded
-- finalization path, and its worker is told through NOTIFY awa:cancel.
CREATE FUNCTION awa.cancel_job(p_job_id bigint, p_reason text DEFAULT 'cancelled by operator')
RETURNS text LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_def awa.deferred_jobs;
  v_loc record;
  v_cursor bigint;
  v_slot smallint;
  v_gen bigint;
  v_state text;
  v_idx int;
BEGIN
  DELETE FROM awa.deferred_jobs WHERE job_id = p_job_id RETURNING * INTO v_def;
  IF FOUND THEN
    SELECT slot, generation INTO v_slot, v_gen FROM awa.ring_rotations
    WHERE ring = 'queue' ORDER BY generation DESC LIMIT 1;
    INSERT INTO awa.done_entries (ready_slot, job_id, run_lease, queue, priority, state, attempt,
      finalized_at, errors, progress, body)
    VALUES (v_slot, v_def.job_id, v_def.run_lease + 1, v_def.queue, v_def.priority, 'cancelled',
      v_def.attempt, clock_timestamp(),
      coalesce(v_def.errors, '[]') || jsonb_build_array(jsonb_build_object(
        'error', 'cancelled: ' || p_reason, 'attempt', v_def.attempt, 'at', clock_timestamp())),
      v_def.progress,
      jsonb_build_object('kind', v_def.kind, 'args', v_def.args, 'tags', v_def.tags,
        'metadata', v_def.metadata, 'created_at', v_def.created_at, 'run_at', v_def.run_at,
        'max_attempts', v_def.max_attempts));
    DELETE FROM awa.job_unique_claims WHERE job_id = p_job_id
      AND NOT awa.mask_has(v_def.unique_states, 'cancelled');
    RETURN 'cancelled';
  END IF;

  SELECT * INTO v_loc FROM awa.locate_ready(p_job_id);
  IF NOT FOUND THEN
    RETURN NULL;
  END IF;

  IF v_loc.batch_id IS NULL THEN
    -- Ready and not yet emitted: take the lane's claim lock (waiting) so no claim can take the
    -- row concurrently, then recheck against the fresh cursor.
    PERFORM pg_advisory_xact_lock(
      awa.lane_key(v_loc.queue, v_loc.priority, v_loc.enqueue_shard, 2));
    v_cursor := awa.lane_cursor(v_loc.queue, v_loc.priority, v_loc.enqueue_shard);
    IF v_loc.lane_seq >= v_cursor AND NOT EXISTS (
      SELECT 1 FROM awa.ready_tombstones t
      WHERE t.queue = v_loc.queue AND t.priority = v_loc.priority
        AND t.enqueue_shard = v_loc.enqueue_shard AND t.lane_seq = v_loc.lane_seq
    ) THEN
      INSERT INTO awa.ready_tombstones (ready_slot, queue, priority, enqueue_shard, lane_seq,
        job_id, reason)
      VALUES (v_loc.ready_slot, v_loc.queue, v_loc.priority, v_loc.enqueue_shard, v_loc.lane_seq,
        p_job_id, 'cancel');
      INSERT INTO awa.done_entries (ready_slot, job_id, run_lease, queue, priority, state,
        attempt, finalized_at, errors)
      SELECT r.ready_slot, r.job_id, r.run_lease + 1, r.queue, r.priority, 'cancelled', r.attempt,
        clock_timestamp(),
        coalesce(r.errors, '[]') || jsonb_build_array(jsonb_build_object(
          'error', 'cancelled: ' || p_reason, 'attempt', r.attempt, 'at', clock_timestamp()))
      FROM awa.ready_entries r
      WHERE r.ready_slot = v_loc.ready_slot AND r.queue = v_loc.queue
        AND r.priority = v_loc.priority AND r.enqueue_shard = v_loc.enqueue_shard
        AND r.lane_seq = v_loc.lane_seq;
      DELETE FROM awa.job_unique_claims u USING awa.ready_entries r
      WHERE u.job_id = p_job_id AND r.ready_slot = v_loc.ready_slot AND r.queue = v_loc.queue
        AND r.priority = v_loc.priority AND r.enqueue_shard = v_loc.enqueue_shard
        AND r.lane_seq = v_loc.lane_seq AND NOT awa.mask_has(r.unique_states, 'cancelled');
      RETURN 'cancelled';
    END IF;
    -- A claim won the race: fall through to the running path with the fresh emission.
    SELECT * INTO v_loc FROM awa.locate_ready(p_job_id);
    IF v_loc.batch_id IS NULL THEN
      RETURN NULL;
    END IF;
  END IF;

  -- The receipt index is the row's place in the batch, not its lane offset: lane positions
  -- have gaps (one block per producer transaction).
  SELECT array_position(b.lane_seqs, v_loc.lane_seq) - 1 INTO v_idx FROM awa.claim_batches b
  WHERE b.claim_slot = v_loc.claim_slot AND b.batch_id = v_loc.batch_id;
  IF v_idx IS NULL THEN
    RETURN NULL;
  END IF;
  SELECT f.state INTO v_state FROM awa.finalize_attempts(jsonb_build_array(jsonb_build_object(
    'claim_slot', v_loc.claim_slot, 'batch_id', v_loc.batch_id,
    'idx', v_idx, 'job_id', p_job_id,
    'run_lease', v_loc.run_lease + 1, 'outcome', 'cancel', 'error', p_reason
  ))) f;
  RETURN v_state;
END
$$;

-- Retry a held job (DLQ or failed): remove the hold and enqueue it afresh with attempt 0 and
-- run_lease 0. Error history is kept. Returns the job id, or null when no such hold exists.
CREATE FUNCTION awa.retry_held(p_job_id bigint, p_queue text DEFAULT NULL,
  p_priority smallint DEFAULT NULL, p_run_at timestamptz DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v awa.dlq_entries;
  v_queue text;
  v_priority smallint;
BEGIN
  DELETE FROM awa.dlq_entries WHERE job_id = p_job_id RETURNING * INTO v;
  IF NOT FOUND THEN
    RETURN NULL;
  END IF;
  v_queue := coalesce(p_queue, v.queue);
  v_priority := coalesce(p_priority, v.priority);
  PERFORM awa.check_job_fields(v.kind, v_queue, v_priority, v.max_attempts, v.tags, v.metadata,
    v.args);
  IF v.unique_key IS NOT NULL AND awa.mask_has(v.unique_states,
    CASE WHEN p_run_at > clock_timestamp() THEN 'scheduled' ELSE 'available' END::awa.job_state)
  THEN
    INSERT INTO awa.job_unique_claims (unique_key, job_id) VALUES (v.unique_key, v.job_id)
    ON CONFLICT (unique_key) DO UPDATE SET job_id = excluded.job_id
      WHERE awa.job_unique_claims.job_id = excluded.job_id;
    IF NOT FOUND THEN
      RAISE EXCEPTION 'awa: another job holds this unique key' USING ERRCODE = '23505',
        CONSTRAINT = 'idx_awa_jobs_unique';
    END IF;
  END IF;
  IF p_run_at IS NOT NULL AND p_run_at > clock_timestamp() THEN
    INSERT INTO awa.deferred_jobs (job_id, state, run_at, queue, priority, kind, args, attempt,
      run_lease, max_attempts, created_at, tags, metadata, errors, unique_key, unique_states)
    VALUES (v.job_id, 'scheduled', p_run_at, v_queue, v_priority, v.kind, v.args, 0, 0,
      v.max_attempts, v.created_at, v.tags, v.metadata, v.errors, v.unique_key, v.unique_states);
  ELSE
    PERFORM awa.append_ready_job(v.job_id, v.kind, v.args, v_queue, v_priority, v.max_attempts,
      0::smallint, 0::bigint, v.created_at, v.tags, v.metadata, v.errors, NULL, v.unique_key,
      v.unique_states, NULL);
  END IF;
  RETURN v.job_id;
END
$$;

-- Every job in every plane, for operators. Not a hot path: it joins across the rings.
CREATE VIEW awa.jobs AS
SELECT r.job_id AS id, r.kind, r.queue, r.args, 'available'::awa.job_state AS state, r.priority,
  r.attempt, r.max_attempts, r.run_at, r.created_at, NULL::timestamptz AS attempted_at,
  NULL::timestamptz AS finalized_at, r.tags, r.metadata, r.errors, r.progress, r.run_lease,
  r.unique_key, NULL::text AS held, NULL::jsonb AS result
FROM awa.ready_entries r
WHERE NOT EXISTS (
    SELECT 1 FROM awa.ready_tombstones t
    WHERE t.ready_slot = r.ready_slot AND t.queue = r.queue AND t.priority = r.priority
      AND t.enqueue_shard = r.enqueue_shard AND t.lane_seq = r.lane_seq)
  AND NOT EXISTS (
    SELECT 1 FROM awa.claim_emissions e
    WHERE e.queue = r.queue AND e.priority = r.priority AND e.enqueue_shard = r.enqueue_shard
      AND r.lane_seq >= e.first_lane_seq AND r.lane_seq < e.next_lane_seq)
UNION ALL
SELECT r.job_id, r.kind, r.queue, r.args, coalesce(s.state, 'running'), r.priority, u.attempt,
  r.max_attempts, r.run_at, r.created_at, b.claimed_at, NULL, r.tags, r.metadata, r.errors,
  coalesce(s.progress, r.progress), u.run_lease, r.unique_key, NULL, NULL
FROM awa.claim_batches b
CROSS JOIN LATERAL unnest(b.job_ids, b.run_leases, b.lane_seqs, b.attempts)
  WITH ORDINALITY AS u(job_id, run_lease, lane_seq, attempt, ord)
JOIN awa.ready_entries r
  ON r.ready_slot = b.ready_slot AND r.queue = b.queue AND r.priority = b.priority
  AND r.enqueue_shard = b.enqueue_shard AND r.lane_seq = u.lane_seq
LEFT JOIN awa.attempt_state s ON s.job_id = u.job_id AND s.run_lease = u.run_lease
WHERE NOT EXISTS (
  SELECT 1 FROM awa.claim_closures c
  WHERE c.claim_slot = b.claim_slot AND c.receipt_ranges @> (b.batch_id * 65536 + u.ord - 1))
UNION ALL
SELECT d.job_id, d.kind, d.queue, d.args, d.state, d.priority, d.attempt, d.max_attempts,
  d.run_at, d.created_at, NULL, NULL, d.tags, d.metadata, d.errors, d.progress, d.run_lease,
  d.unique_key, NULL, NULL
FROM awa.deferred_jobs d
UNION ALL
SELECT * FROM (
  -- The body is the newest ready row of the job at run_lease - 1 in the terminal row's slot: a
  -- DLQ retry starts a job again at run_lease 0, so an older row with the same job and lease can
  -- sit in the same slot, and a terminal row always belongs to the newest.
  SELECT DISTINCT ON (t.ready_slot, t.job_id, t.run_lease)
    t.job_id, coalesce(r.kind, t.body ->> 'kind'), t.queue, coalesce(r.args, t.body -> 'args'),
    t.state, t.priority, t.attempt, coalesce(r.max_attempts, (t.body ->> 'max_attempts')::smallint),
    coalesce(r.run_at, (t.body ->> 'run_at')::timestamptz),
    coalesce(r.created_at, (t.body ->> 'created_at')::timestamptz), t.attempted_at, t.finalized_at,
    coalesce(r.tags, ARRAY(SELECT jsonb_array_elements_text(t.body -> 'tags'))),
    coalesce(r.metadata, t.body -> 'metadata'), coalesce(t.errors, r.errors), t.progress,
    t.run_lease, r.unique_key, NULL, t.result
  FROM awa.done_entries t
  LEFT JOIN awa.ready_entries r
    ON r.ready_slot = t.ready_slot AND r.job_id = t.job_id AND r.run_lease = t.run_lease - 1
  ORDER BY t.ready_slot, t.job_id, t.run_lease, r.lane_seq DESC NULLS LAST
) terminal
UNION ALL
SELECT h.job_id, h.kind, h.queue, h.args, 'failed', h.priority, h.attempt, h.max_attempts,
  h.held_at, h.created_at, h.attempted_at, h.held_at, h.tags, h.metadata, h.errors, h.progress,
  h.original_run_lease, h.unique_key, h.hold_kind, NULL
FROM awa.dlq_entries h;
