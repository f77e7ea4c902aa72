-- Park an open attempt on its registered callback: the job waits in waiting_external with no
-- process holding it, until a resolution or the timeout closes the attempt. p_progress (the
-- handler's latest progress, may be null) is kept with it. Returns 'parked'; 'stale' when the
-- attempt is closed (rescued, cancelled, or already resolved by an early completion);
-- 'no_callback' when p_callback_id is not the attempt's registered callback (never registered,
-- superseded by a newer registration, or already resumed).
CREATE OR REPLACE FUNCTION {{schema}}.park_callback(p_claim_slot smallint, p_batch_id bigint,
  p_idx int, p_job_id bigint, p_run_lease bigint, p_callback_id uuid, p_progress jsonb)
RETURNS text LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  PERFORM {{schema}}.attempt_lock(p_job_id, p_run_lease);
  IF NOT {{schema}}.callback_attempt_open(p_claim_slot, {{schema}}.receipt_id(p_batch_id, p_idx),
    p_job_id, p_run_lease) THEN
    RETURN 'stale';
  END IF;
  UPDATE {{schema}}.attempt_state s
  SET state = 'waiting_external', callback_parked = true,
    progress = coalesce(p_progress, s.progress), updated_at = now()
  WHERE s.job_id = p_job_id AND s.run_lease = p_run_lease AND s.callback_id = p_callback_id;
  IF NOT FOUND THEN
    RETURN 'no_callback';
  END IF;
  RETURN 'parked';
END
$$;
