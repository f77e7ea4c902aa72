-- Cancel one job wherever it waits or runs. Returns the state it reached ('cancelled'), or null
-- when the job is unknown or already terminal. A running attempt is closed through the guarded
-- finalization path, and its worker is told through NOTIFY awa:cancel. Waiters of the job
-- (insertAndWait) are woken through notify_waiters on every path.
CREATE OR REPLACE FUNCTION {{schema}}.cancel_job(p_job_id bigint, p_reason text DEFAULT 'cancelled by operator')
RETURNS text LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_def {{schema}}.deferred_jobs;
  v_loc record;
  v_cursor bigint;
  v_slot smallint;
  v_gen bigint;
  v_state text;
  v_idx int;
BEGIN
  IF {{schema}}.cancel_waiting_job(p_job_id, p_reason) THEN
    RETURN 'cancelled';
  END IF;
  DELETE FROM {{schema}}.deferred_jobs WHERE job_id = p_job_id RETURNING * INTO v_def;
  IF FOUND THEN
    SELECT slot, generation INTO v_slot, v_gen FROM {{schema}}.ring_head('queue');
    INSERT INTO {{schema}}.done_entries (ready_slot, job_id, run_lease, queue, priority, state, attempt,
      finalized_at, errors, progress, body)
    VALUES (v_slot, v_def.job_id, v_def.run_lease + 1, v_def.queue, v_def.priority, 'cancelled',
      v_def.attempt, clock_timestamp(),
      coalesce(v_def.errors, '[]') || jsonb_build_array(jsonb_build_object(
        'error', 'cancelled: ' || p_reason, 'attempt', v_def.attempt, 'at', clock_timestamp())),
      v_def.progress,
      jsonb_build_object('kind', v_def.kind, 'args', v_def.args, 'tags', v_def.tags,
        'metadata', v_def.metadata, 'created_at', v_def.created_at, 'run_at', v_def.run_at,
        'max_attempts', v_def.max_attempts));
    DELETE FROM {{schema}}.job_unique_claims WHERE job_id = p_job_id
      AND NOT {{schema}}.mask_has(v_def.unique_states, 'cancelled');
    PERFORM {{schema}}.key_release(ARRAY[p_job_id]);
    PERFORM {{schema}}.notify_waiters(ARRAY[p_job_id]);
    PERFORM {{schema}}.flow_job_finished(jsonb_build_array(jsonb_build_object('job_id', p_job_id,
      'state', 'cancelled')));
    RETURN 'cancelled';
  END IF;

  SELECT * INTO v_loc FROM {{schema}}.locate_ready(p_job_id);
  IF NOT FOUND THEN
    RETURN NULL;
  END IF;

  IF v_loc.batch_id IS NULL THEN
    -- Ready and not yet emitted: take the lane's claim lock (waiting) so no claim can take the
    -- row concurrently, then recheck against the fresh cursor.
    PERFORM pg_advisory_xact_lock(
      {{schema}}.lane_key(v_loc.queue, v_loc.priority, v_loc.enqueue_shard, 2));
    v_cursor := {{schema}}.lane_cursor(v_loc.queue, v_loc.priority, v_loc.enqueue_shard);
    IF v_loc.lane_seq >= v_cursor AND NOT EXISTS (
      SELECT 1 FROM {{schema}}.ready_tombstones t
      WHERE t.queue = v_loc.queue AND t.priority = v_loc.priority
        AND t.enqueue_shard = v_loc.enqueue_shard AND t.lane_seq = v_loc.lane_seq
    ) THEN
      INSERT INTO {{schema}}.ready_tombstones (ready_slot, queue, priority, enqueue_shard, lane_seq,
        job_id, reason)
      VALUES (v_loc.ready_slot, v_loc.queue, v_loc.priority, v_loc.enqueue_shard, v_loc.lane_seq,
        p_job_id, 'cancel');
      INSERT INTO {{schema}}.done_entries (ready_slot, job_id, run_lease, queue, priority, state,
        attempt, finalized_at, errors)
      SELECT r.ready_slot, r.job_id, r.run_lease + 1, r.queue, r.priority, 'cancelled', r.attempt,
        clock_timestamp(),
        coalesce(r.errors, '[]') || jsonb_build_array(jsonb_build_object(
          'error', 'cancelled: ' || p_reason, 'attempt', r.attempt, 'at', clock_timestamp()))
      FROM {{schema}}.ready_entries r
      WHERE r.ready_slot = v_loc.ready_slot AND r.queue = v_loc.queue
        AND r.priority = v_loc.priority AND r.enqueue_shard = v_loc.enqueue_shard
        AND r.lane_seq = v_loc.lane_seq;
      DELETE FROM {{schema}}.job_unique_claims u USING {{schema}}.ready_entries r
      WHERE u.job_id = p_job_id AND r.ready_slot = v_loc.ready_slot AND r.queue = v_loc.queue
        AND r.priority = v_loc.priority AND r.enqueue_shard = v_loc.enqueue_shard
        AND r.lane_seq = v_loc.lane_seq AND NOT {{schema}}.mask_has(r.unique_states, 'cancelled');
      PERFORM {{schema}}.key_release(ARRAY[p_job_id]);
      PERFORM {{schema}}.notify_waiters(ARRAY[p_job_id]);
      PERFORM {{schema}}.flow_job_finished(jsonb_build_array(jsonb_build_object('job_id',
        p_job_id, 'state', 'cancelled')));
      RETURN 'cancelled';
    END IF;
    -- A claim won the race: fall through to the running path with the fresh emission.
    SELECT * INTO v_loc FROM {{schema}}.locate_ready(p_job_id);
    IF v_loc.batch_id IS NULL THEN
      RETURN NULL;
    END IF;
  END IF;

  -- The receipt index is the row's place in the batch, not its lane offset: lane positions
  -- have gaps (one block per producer transaction).
  SELECT array_position(b.lane_seqs, v_loc.lane_seq) - 1 INTO v_idx FROM {{schema}}.claim_batches b
  WHERE b.claim_slot = v_loc.claim_slot AND b.batch_id = v_loc.batch_id;
  IF v_idx IS NULL THEN
    RETURN NULL;
  END IF;
  SELECT f.state INTO v_state FROM {{schema}}.finalize_attempts(jsonb_build_array(jsonb_build_object(
    'claim_slot', v_loc.claim_slot, 'batch_id', v_loc.batch_id,
    'idx', v_idx, 'job_id', p_job_id,
    'run_lease', v_loc.run_lease + 1, 'outcome', 'cancel', 'error', p_reason
  ))) f;
  RETURN v_state;
END
$$;
