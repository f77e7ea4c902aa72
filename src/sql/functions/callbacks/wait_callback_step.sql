-- One step of a sequential wait on callback p_callback_id of an open attempt (polled by the
-- waiting handler's process). Returns one row:
--   ('resumed', {"payload": …}) a resume arrived (possibly before the wait began); it is
--                               consumed here, so each resume is delivered once;
--   ('waiting', null)           the callback is still registered; the attempt is (now) in
--                               waiting_external;
--   ('gone', null)              the callback was cancelled or superseded;
--   ('stale', null)             the attempt is closed (resolved, timed out, rescued, cancelled).
CREATE OR REPLACE FUNCTION {{schema}}.wait_callback_step(p_claim_slot smallint, p_batch_id bigint,
  p_idx int, p_job_id bigint, p_run_lease bigint, p_callback_id uuid)
RETURNS TABLE (status text, result jsonb) LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
DECLARE
  s {{schema}}.attempt_state;
BEGIN
  PERFORM {{schema}}.attempt_lock(p_job_id, p_run_lease);
  IF NOT {{schema}}.callback_attempt_open(p_claim_slot, {{schema}}.receipt_id(p_batch_id, p_idx),
    p_job_id, p_run_lease) THEN
    RETURN QUERY SELECT 'stale'::text, NULL::jsonb;
    RETURN;
  END IF;
  SELECT * INTO s FROM {{schema}}.attempt_state a
  WHERE a.job_id = p_job_id AND a.run_lease = p_run_lease;
  IF FOUND AND s.callback_result_id = p_callback_id THEN
    UPDATE {{schema}}.attempt_state a SET callback_result = NULL, callback_result_id = NULL,
      updated_at = now()
    WHERE a.job_id = p_job_id AND a.run_lease = p_run_lease;
    RETURN QUERY SELECT 'resumed'::text, s.callback_result;
    RETURN;
  END IF;
  IF FOUND AND s.callback_id = p_callback_id THEN
    IF s.state <> 'waiting_external' THEN
      UPDATE {{schema}}.attempt_state a SET state = 'waiting_external', callback_parked = false,
        updated_at = now()
      WHERE a.job_id = p_job_id AND a.run_lease = p_run_lease;
    END IF;
    RETURN QUERY SELECT 'waiting'::text, NULL::jsonb;
    RETURN;
  END IF;
  RETURN QUERY SELECT 'gone'::text, NULL::jsonb;
END
$$;
