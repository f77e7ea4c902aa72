-- Append one job to the ready ring of its lane (used by insert_job, promotion, DLQ retry).
-- The caller has taken unique claims; this takes the lane lock and notifies. A job with a
-- concurrency key first enters its key (key_enter, before the lane lock): parked there, it is
-- not appended and the result is null.
CREATE OR REPLACE FUNCTION {{schema}}.append_ready_job(
  p_job_id bigint, p_kind text, p_args jsonb, p_queue text, p_priority smallint,
  p_max_attempts smallint, p_attempt smallint, p_run_lease bigint, p_created_at timestamptz,
  p_tags text[], p_metadata jsonb, p_errors jsonb, p_progress jsonb, p_unique_key bytea,
  p_unique_states bit(8), p_ordering_key bytea
) RETURNS smallint LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  shard smallint;
BEGIN
  IF p_metadata ? 'awa:concurrency_key' THEN
    IF NOT {{schema}}.key_enter(p_job_id, p_kind, p_args, p_queue, p_priority, p_max_attempts,
        p_attempt, p_run_lease, p_created_at, p_tags, p_metadata, p_errors, p_progress,
        p_unique_key, p_unique_states) THEN
      RETURN NULL;
    END IF;
  END IF;
  shard := {{schema}}.lock_enqueue_lane(
    p_queue, p_priority, CASE WHEN p_ordering_key IS NOT NULL THEN {{schema}}.ordering_key_hash64(p_ordering_key) END
  );
  -- A fresh statement after the lock: the cursor and position are read after earlier producers
  -- of this lane have committed.
  INSERT INTO {{schema}}.ready_entries (
    ready_slot, generation, queue, priority, enqueue_shard, lane_seq, job_id, kind, args, attempt,
    run_lease, max_attempts, run_at, created_at, tags, metadata, errors, progress, unique_key,
    unique_states
  )
  SELECT c.slot, c.generation, p_queue, p_priority, shard, nextval('{{schema}}.lane_block_seq'),
    p_job_id, p_kind, p_args, p_attempt, p_run_lease, p_max_attempts, clock_timestamp(),
    p_created_at, p_tags, p_metadata, p_errors, p_progress, p_unique_key, p_unique_states
  FROM {{schema}}.ring_head('queue') c;
  PERFORM pg_notify({{schema}}.notify_channel(p_queue), '');
  RETURN shard;
END
$$;
