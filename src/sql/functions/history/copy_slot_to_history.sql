-- Copy the finished jobs of queue-ring slot p_slot into job_history. Called by prune_ring inside
-- the transaction that truncates the slot, after it has locked the slot's partitions: nothing
-- can finish a job in the slot meanwhile, and no snapshot sees a job in both places. Jobs whose
-- queue keeps nothing (retention 0) are not copied. Returns the rows copied.
CREATE OR REPLACE FUNCTION {{schema}}.copy_slot_to_history(p_slot smallint)
RETURNS bigint LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_n bigint;
BEGIN
  WITH keep AS MATERIALIZED (
    SELECT q.queue, {{schema}}.retention_ms(q.queue, 'completed') AS ms
    FROM (SELECT DISTINCT d.queue FROM {{schema}}.done_entries d WHERE d.ready_slot = p_slot) q
  )
  INSERT INTO {{schema}}.job_history (expires_at, job_id, run_lease, queue, kind, priority, state,
    attempt, max_attempts, args, tags, metadata, run_at, created_at, attempted_at, finalized_at,
    result, errors, progress, unique_key, unique_states)
  SELECT f.finalized_at + make_interval(secs => k.ms / 1000.0), f.job_id, f.run_lease, f.queue,
    f.kind, f.priority, f.state, f.attempt, f.max_attempts, f.args, f.tags, f.metadata, f.run_at,
    f.created_at, f.attempted_at, f.finalized_at, f.result, f.errors, f.progress, f.unique_key,
    f.unique_states
  FROM {{schema}}.finished_in_ring f
  JOIN keep k ON k.queue = f.queue AND k.ms > 0
  WHERE f.ready_slot = p_slot;
  GET DIAGNOSTICS v_n = ROW_COUNT;
  RETURN v_n;
END
$$;
