-- The hook of every transition that ends a job for good (finalize_attempts, cancel_job): p_done
-- is a JSON array of {job_id, state, result?} with state completed, failed or cancelled. Jobs
-- that are no released flow node are ignored, and so is a node that already finished (a failed
-- node retried from the DLQ keeps the outcome its flow saw). p_busy lists the jobs the calling
-- finalization is closing right now, which a `cancel` policy must leave to it.
--
-- Locks, in this order: the finished nodes' rows (sorted), then in flow_propagate the gate rows
-- (sorted) and the children's node rows (sorted). Job ids grow from parents to children, so two
-- finalizers meet in the same order.
CREATE OR REPLACE FUNCTION {{schema}}.flow_job_finished(p_done jsonb, p_busy bigint[] DEFAULT '{}')
RETURNS void LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_done jsonb;
BEGIN
  IF p_done IS NULL OR jsonb_array_length(p_done) = 0 THEN
    RETURN;
  END IF;
  PERFORM 1 FROM {{schema}}.flow_nodes n
  WHERE n.job_id IN (SELECT x.job_id FROM jsonb_to_recordset(p_done) x(job_id bigint))
    AND n.state = 'released'
  ORDER BY n.job_id FOR UPDATE;

  WITH d AS (
    SELECT DISTINCT ON (x.job_id) x.job_id, x.state, x.result
    FROM jsonb_to_recordset(p_done) x(job_id bigint, state text, result jsonb)
    ORDER BY x.job_id
  ), finished AS (
    UPDATE {{schema}}.flow_nodes n SET state = d.state, result = d.result,
      finished_at = clock_timestamp()
    FROM d WHERE n.job_id = d.job_id AND n.state = 'released'
    RETURNING n.job_id, n.state
  )
  SELECT jsonb_agg(jsonb_build_object('job_id', f.job_id, 'state', f.state)) INTO v_done
  FROM finished f;

  PERFORM {{schema}}.flow_propagate(v_done, coalesce(p_busy, '{}'));
END
$$;
