-- Cancel one released flow job for cancel_flow: a running attempt through finalize_attempts with
-- the try form of the attempt lock (never waiting for a finalizer), anything else through
-- cancel_job. Returns the state reached, or null when the job had finished or was busy.
CREATE OR REPLACE FUNCTION {{schema}}.flow_cancel_job(p_job_id bigint, p_reason text)
RETURNS text LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_loc record;
  v_idx int;
  v_state text;
BEGIN
  SELECT * INTO v_loc FROM {{schema}}.locate_ready(p_job_id);
  IF NOT FOUND OR v_loc.batch_id IS NULL THEN
    RETURN {{schema}}.cancel_job(p_job_id, p_reason);
  END IF;
  SELECT array_position(b.lane_seqs, v_loc.lane_seq) - 1 INTO v_idx
  FROM {{schema}}.claim_batches b
  WHERE b.claim_slot = v_loc.claim_slot AND b.batch_id = v_loc.batch_id;
  IF v_idx IS NULL THEN
    RETURN NULL;
  END IF;
  SELECT f.state INTO v_state FROM {{schema}}.finalize_attempts(jsonb_build_array(
    jsonb_build_object('claim_slot', v_loc.claim_slot, 'batch_id', v_loc.batch_id, 'idx', v_idx,
      'job_id', p_job_id, 'run_lease', v_loc.run_lease + 1, 'outcome', 'cancel',
      'error', p_reason)), true) f;
  RETURN v_state;
END
$$;
