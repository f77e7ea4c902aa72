-- Resolve callback p_callback_id from any process. p_action:
--   check     nothing changes (the caller's CEL filter said ignore);
--   resume    a sequential wait gets p_payload and the attempt is running again (also accepted
--             before the wait began); refused for a parked job, which no handler waits on;
--   heartbeat the deadline moves to now + p_timeout_s;
--   cancel    the callback is withdrawn: a parked job's attempt ends as retryable (or failed on
--             its last attempt, error 'callback cancelled'); otherwise the attempt runs on
--             without it;
--   complete  the job completes with result p_payload;
--   fail      the job fails (DLQ when its queue says so) with error p_error;
--   retry     only from waiting_external: the attempt ends and the job is due again at once
--             with attempt 0 (a fresh budget), error history kept.
-- Every action finds the attempt by id, takes its attempt lock and checks again in a new
-- statement that the id is still the attempt's callback and the attempt still open, so of
-- concurrent resolutions exactly one closes it; the others find nothing. No row: unknown,
-- resolved, superseded or stale id, nothing written. Otherwise one row: the job's state after
-- the call, and `applied` false when the action does not apply to the state (resume of a
-- parked job, retry of a running one), nothing written. Every applied action but check sends
-- a notice ({{schema}}.notify_callback) that the claiming runtime turns into its
-- callbackResolved event.
CREATE OR REPLACE FUNCTION {{schema}}.resolve_callback(p_callback_id uuid, p_action text,
  p_payload jsonb DEFAULT NULL, p_error text DEFAULT NULL,
  p_timeout_s double precision DEFAULT NULL, p_dlq_default boolean DEFAULT false)
RETURNS TABLE (job_id bigint, run_lease bigint, state text, applied boolean, held text,
  instance_id uuid)
LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
DECLARE
  v_job bigint;
  v_lease bigint;
  s {{schema}}.attempt_state;
  v_instance uuid;
  v_item jsonb;
  v_state text;
  v_held text;
BEGIN
  SELECT a.job_id, a.run_lease INTO v_job, v_lease FROM {{schema}}.attempt_state a
  WHERE a.callback_id = p_callback_id;
  IF NOT FOUND THEN
    RETURN;
  END IF;
  PERFORM {{schema}}.attempt_lock(v_job, v_lease);
  -- A new statement: whoever held the lock before us has committed and is visible now.
  SELECT * INTO s FROM {{schema}}.attempt_state a
  WHERE a.job_id = v_job AND a.run_lease = v_lease AND a.callback_id = p_callback_id;
  IF NOT FOUND OR NOT {{schema}}.callback_attempt_open(s.claim_slot, s.receipt_id, v_job, v_lease)
  THEN
    RETURN;
  END IF;
  SELECT b.instance_id INTO v_instance FROM {{schema}}.claim_batches b
  WHERE b.claim_slot = s.claim_slot AND b.batch_id = s.receipt_id / 65536;

  IF p_action = 'check' THEN
    RETURN QUERY SELECT v_job, v_lease, s.state::text, true, NULL::text, v_instance;
    RETURN;
  ELSIF p_action = 'heartbeat' THEN
    UPDATE {{schema}}.attempt_state a
    SET callback_timeout_at = clock_timestamp() + make_interval(secs => p_timeout_s),
      updated_at = now()
    WHERE a.job_id = v_job AND a.run_lease = v_lease;
    PERFORM {{schema}}.notify_callback(v_job, v_lease, p_callback_id, p_action, s.state::text,
      v_instance);
    RETURN QUERY SELECT v_job, v_lease, s.state::text, true, NULL::text, v_instance;
    RETURN;
  ELSIF p_action = 'resume' THEN
    IF s.callback_parked THEN
      RETURN QUERY SELECT v_job, v_lease, s.state::text, false, NULL::text, v_instance;
      RETURN;
    END IF;
    UPDATE {{schema}}.attempt_state a
    SET state = 'running', callback_id = NULL, callback_timeout_at = NULL,
      callback_filter = NULL, callback_on_complete = NULL, callback_on_fail = NULL,
      callback_transform = NULL, callback_result = jsonb_build_object('payload', p_payload),
      callback_result_id = p_callback_id, updated_at = now()
    WHERE a.job_id = v_job AND a.run_lease = v_lease;
    PERFORM {{schema}}.notify_callback(v_job, v_lease, p_callback_id, p_action, 'running',
      v_instance);
    RETURN QUERY SELECT v_job, v_lease, 'running'::text, true, NULL::text, v_instance;
    RETURN;
  ELSIF p_action = 'cancel' AND NOT (s.callback_parked AND s.state = 'waiting_external') THEN
    UPDATE {{schema}}.attempt_state a
    SET state = 'running', callback_id = NULL, callback_timeout_at = NULL,
      callback_filter = NULL, callback_on_complete = NULL, callback_on_fail = NULL,
      callback_transform = NULL, callback_parked = false, updated_at = now()
    WHERE a.job_id = v_job AND a.run_lease = v_lease;
    PERFORM {{schema}}.notify_callback(v_job, v_lease, p_callback_id, p_action, 'running',
      v_instance);
    RETURN QUERY SELECT v_job, v_lease, 'running'::text, true, NULL::text, v_instance;
    RETURN;
  ELSIF p_action = 'retry' AND s.state <> 'waiting_external' THEN
    RETURN QUERY SELECT v_job, v_lease, s.state::text, false, NULL::text, v_instance;
    RETURN;
  END IF;

  v_item := jsonb_build_object('claim_slot', s.claim_slot, 'batch_id', s.receipt_id / 65536,
    'idx', s.receipt_id % 65536, 'job_id', v_job, 'run_lease', v_lease);
  v_item := v_item || CASE p_action
    WHEN 'complete' THEN jsonb_build_object('outcome', 'callback_complete', 'state', 'completed',
      'result', p_payload)
    WHEN 'fail' THEN jsonb_build_object('outcome', 'callback_fail', 'state', 'failed',
      'error', p_error)
    WHEN 'retry' THEN jsonb_build_object('outcome', 'callback_retry', 'state', 'retryable',
      'delay_s', 0, 'error', 'retry requested by callback')
    WHEN 'cancel' THEN jsonb_build_object('outcome', 'callback_cancel',
      'error', 'callback cancelled')
  END;
  IF v_item IS NULL THEN
    RAISE EXCEPTION 'awa: unknown callback action %', p_action USING ERRCODE = '22023';
  END IF;
  SELECT f.state, f.held INTO v_state, v_held
  FROM {{schema}}.finalize_attempts(jsonb_build_array(v_item), false, p_dlq_default) f;
  IF NOT FOUND THEN
    RETURN;
  END IF;
  IF p_action = 'retry' THEN
    UPDATE {{schema}}.deferred_jobs d SET attempt = 0
    WHERE d.job_id = v_job AND d.run_lease = v_lease;
  END IF;
  PERFORM {{schema}}.notify_callback(v_job, v_lease, p_callback_id, p_action, v_state, v_instance);
  RETURN QUERY SELECT v_job, v_lease, v_state, true, v_held, v_instance;
END
$$;
