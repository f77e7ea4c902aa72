-- Register a callback on an open, running attempt: a fresh UUID v4 replaces any earlier
-- callback of the attempt (whose id then resolves nothing), with its deadline and CEL
-- expressions (compiled by the caller). An unconsumed resume of an earlier callback stays, so
-- a wait on that id still gets it. Returns the id, or null when the attempt is closed or in a
-- wait (the lease guard: a stale attempt never registers).
CREATE OR REPLACE FUNCTION {{schema}}.register_callback(p_claim_slot smallint, p_batch_id bigint,
  p_idx int, p_job_id bigint, p_run_lease bigint, p_timeout_s double precision,
  p_filter text DEFAULT NULL, p_on_complete text DEFAULT NULL, p_on_fail text DEFAULT NULL,
  p_transform text DEFAULT NULL)
RETURNS uuid LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_receipt bigint := {{schema}}.receipt_id(p_batch_id, p_idx);
  v_id uuid := gen_random_uuid();
BEGIN
  PERFORM {{schema}}.attempt_lock(p_job_id, p_run_lease);
  IF NOT {{schema}}.callback_attempt_open(p_claim_slot, v_receipt, p_job_id, p_run_lease) THEN
    RETURN NULL;
  END IF;
  INSERT INTO {{schema}}.attempt_state AS s (job_id, run_lease, receipt_id, claim_slot,
    callback_id, callback_timeout_at, callback_filter, callback_on_complete, callback_on_fail,
    callback_transform)
  VALUES (p_job_id, p_run_lease, v_receipt, p_claim_slot, v_id,
    clock_timestamp() + make_interval(secs => p_timeout_s), p_filter, p_on_complete, p_on_fail,
    p_transform)
  ON CONFLICT ON CONSTRAINT attempt_state_pkey DO UPDATE SET
    callback_id = excluded.callback_id, callback_timeout_at = excluded.callback_timeout_at,
    callback_filter = excluded.callback_filter,
    callback_on_complete = excluded.callback_on_complete,
    callback_on_fail = excluded.callback_on_fail,
    callback_transform = excluded.callback_transform, callback_parked = false,
    updated_at = now()
  WHERE s.state = 'running';
  IF NOT FOUND THEN
    RETURN NULL;
  END IF;
  RETURN v_id;
END
$$;
