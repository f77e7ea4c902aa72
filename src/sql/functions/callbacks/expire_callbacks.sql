-- Close attempts whose callback deadline has passed (the leader's callbackTimeouts service):
-- each becomes retryable with the usual backoff, or failed / DLQ with reason callback_timeout
-- on its last attempt, error 'callback timed out'. Attempts a resolver holds (try lock busy)
-- are left for the next scan; the rest are checked again under their lock, so a heartbeat or
-- resolution that committed first wins. At most p_limit attempts per call, oldest deadline
-- first. Returns the finalized rows.
CREATE OR REPLACE FUNCTION {{schema}}.expire_callbacks(p_limit int,
  p_dlq_default boolean DEFAULT false)
RETURNS TABLE (job_id bigint, run_lease bigint, state text, held text, callback_id uuid,
  parked boolean)
LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
DECLARE
  v_locked jsonb;
  v_items jsonb;
BEGIN
  SELECT coalesce(jsonb_agg(jsonb_build_object('job_id', c.job_id, 'run_lease', c.run_lease)),
    '[]')
  INTO v_locked
  FROM (
    SELECT a.job_id, a.run_lease FROM {{schema}}.attempt_state a
    WHERE a.state = 'waiting_external' AND a.callback_timeout_at < clock_timestamp()
    ORDER BY a.callback_timeout_at
    LIMIT p_limit
  ) c
  WHERE {{schema}}.attempt_try_lock(c.job_id, c.run_lease);

  -- A new statement under the locks: only attempts still waiting and still past their deadline.
  SELECT coalesce(jsonb_agg(jsonb_build_object('claim_slot', a.claim_slot,
    'batch_id', a.receipt_id / 65536, 'idx', a.receipt_id % 65536, 'job_id', a.job_id,
    'run_lease', a.run_lease, 'outcome', 'rescue_callback', 'error', 'callback timed out',
    'callback_id', a.callback_id, 'parked', a.callback_parked)), '[]')
  INTO v_items
  FROM jsonb_to_recordset(v_locked) AS l(job_id bigint, run_lease bigint)
  JOIN {{schema}}.attempt_state a ON a.job_id = l.job_id AND a.run_lease = l.run_lease
  WHERE a.state = 'waiting_external' AND a.callback_timeout_at < clock_timestamp()
    AND {{schema}}.callback_attempt_open(a.claim_slot, a.receipt_id, a.job_id, a.run_lease);

  RETURN QUERY
  SELECT f.job_id, f.run_lease, f.state, f.held, e.callback_id, e.parked
  FROM {{schema}}.finalize_attempts(v_items, true, p_dlq_default) f
  JOIN jsonb_to_recordset(v_items) AS e(job_id bigint, run_lease bigint, callback_id uuid,
    parked boolean) ON e.job_id = f.job_id AND e.run_lease = f.run_lease;
END
$$;
