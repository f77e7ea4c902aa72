-- Wake the waiters of jobs that just reached a terminal state (completed, cancelled, failed):
-- delete the job_waiters rows of p_job_ids and send one NOTIFY on the '@result' channel per job
-- that had one, with the job id as payload. Called by the transitions themselves
-- (finalize_attempts, cancel_job), so the notice is delivered when, and only if, the transition
-- commits, and the rows go with it. STRICT: a statement that ended no job passes NULL and costs
-- nothing; with no waiter at all, one probe of the empty table. Returns the notices sent.
CREATE OR REPLACE FUNCTION {{schema}}.notify_waiters(p_job_ids bigint[])
RETURNS int LANGUAGE plpgsql VOLATILE STRICT AS $$
DECLARE
  v_sent int;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM {{schema}}.job_waiters) THEN
    RETURN 0;
  END IF;
  WITH gone AS (
    DELETE FROM {{schema}}.job_waiters w WHERE w.job_id = ANY (p_job_ids) RETURNING w.job_id
  )
  SELECT count(pg_notify({{schema}}.notify_channel('@result'), g.job_id::text)) INTO v_sent
  FROM (SELECT DISTINCT job_id FROM gone) g;
  RETURN v_sent;
END
$$;
