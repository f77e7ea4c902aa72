-- Cancel a flow as a whole: from now on none of its nodes is released. Waiting nodes become
-- cancelled; released jobs are cancelled where they are (deferred, ready, or running: the
-- running attempt is closed with the try form of the attempt lock, because node rows are held
-- here and a finalizer holding that attempt lock may be waiting for one of them; a busy attempt,
-- or one in p_busy, keeps its outcome and its dependents are then cancelled when it finishes).
-- Returns the number of nodes cancelled by this call; 0 when the flow is unknown or was
-- cancelled before.
CREATE OR REPLACE FUNCTION {{schema}}.cancel_flow(p_flow_id bigint,
  p_reason text DEFAULT 'flow cancelled by operator', p_busy bigint[] DEFAULT '{}')
RETURNS int LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_count int;
  v_id bigint;
  v_state text;
BEGIN
  UPDATE {{schema}}.flows SET cancelled_at = clock_timestamp()
  WHERE flow_id = p_flow_id AND cancelled_at IS NULL;
  IF NOT FOUND THEN
    RETURN 0;
  END IF;
  PERFORM 1 FROM {{schema}}.flow_nodes n
  WHERE n.flow_id = p_flow_id AND n.state IN ('waiting', 'released')
  ORDER BY n.job_id FOR UPDATE;
  UPDATE {{schema}}.flow_nodes SET state = 'cancelled', finished_at = clock_timestamp(),
    args = NULL, metadata = NULL
  WHERE flow_id = p_flow_id AND state = 'waiting';
  GET DIAGNOSTICS v_count = ROW_COUNT;

  FOR v_id IN
    SELECT n.job_id FROM {{schema}}.flow_nodes n
    WHERE n.flow_id = p_flow_id AND n.state = 'released' AND NOT n.job_id = ANY (coalesce(p_busy, '{}'))
    ORDER BY n.job_id
  LOOP
    v_state := {{schema}}.flow_cancel_job(v_id, p_reason);
    IF v_state = 'cancelled' THEN
      v_count := v_count + 1;
    END IF;
  END LOOP;
  RETURN v_count;
END
$$;
