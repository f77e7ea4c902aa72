-- Cancel a job that waits for its concurrency key: its row leaves key_waiting and a wide
-- cancelled row goes into the current queue-ring slot (it never had an attempt). Returns false
-- when the job is not waiting. The key's lock is taken first: a release of the key picks its
-- next waiters and deletes them in one statement, and a waiter deleted between the two would
-- leave the key with a free slot and its later waiters parked behind nobody.
CREATE OR REPLACE FUNCTION {{schema}}.cancel_waiting_job(p_job_id bigint, p_reason text)
RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v {{schema}}.key_waiting;
BEGIN
  SELECT w.* INTO v FROM {{schema}}.key_waiting w WHERE w.job_id = p_job_id;
  IF NOT FOUND THEN
    RETURN false;
  END IF;
  PERFORM {{schema}}.key_lock(v.queue, v.concurrency_key);
  -- A fresh statement after the lock: a release that held it may have admitted the job.
  DELETE FROM {{schema}}.key_waiting WHERE job_id = p_job_id RETURNING * INTO v;
  IF NOT FOUND THEN
    RETURN false;
  END IF;
  INSERT INTO {{schema}}.done_entries (ready_slot, job_id, run_lease, queue, priority, state, attempt,
    finalized_at, errors, progress, body)
  SELECT c.slot, v.job_id, v.run_lease + 1, v.queue, v.priority, 'cancelled', v.attempt,
    clock_timestamp(),
    coalesce(v.errors, '[]') || jsonb_build_array(jsonb_build_object(
      'error', 'cancelled: ' || p_reason, 'attempt', v.attempt, 'at', clock_timestamp())),
    v.progress,
    jsonb_build_object('kind', v.kind, 'args', v.args, 'tags', v.tags, 'metadata', v.metadata,
      'created_at', v.created_at, 'run_at', v.waiting_since, 'max_attempts', v.max_attempts)
  FROM {{schema}}.ring_head('queue') c;
  DELETE FROM {{schema}}.job_unique_claims WHERE job_id = p_job_id
    AND NOT {{schema}}.mask_has(v.unique_states, 'cancelled');
  RETURN true;
END
$$;
