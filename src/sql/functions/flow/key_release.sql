-- Free the key slots of jobs that reached a terminal state (completed, cancelled, failed or
-- held) and admit the next waiting jobs of those keys, in the same transaction. Jobs without an
-- admission are ignored, so callers pass every terminal job. Keys are locked in sorted order.
-- The admissions are deleted before their keys are locked: only the job's own terminal
-- transition (which holds its attempt or its deferred row) touches its admission row, and an
-- admitter that counts the key meanwhile still counts the row, so it never over-admits.
-- Index probes only: key_admissions is small but churns, and a plan that scans it pays for every
-- dead version autovacuum has not reclaimed yet.
CREATE OR REPLACE FUNCTION {{schema}}.key_release(p_job_ids bigint[])
RETURNS int LANGUAGE plpgsql VOLATILE
SET plan_cache_mode = force_generic_plan SET enable_seqscan = off
AS $$
DECLARE
  v_queues text[];
  v_keys text[];
BEGIN
  WITH gone AS (
    DELETE FROM {{schema}}.key_admissions a WHERE a.job_id = ANY (p_job_ids)
    RETURNING a.queue, a.concurrency_key
  )
  SELECT array_agg(d.queue ORDER BY d.queue, d.concurrency_key),
    array_agg(d.concurrency_key ORDER BY d.queue, d.concurrency_key)
  INTO v_queues, v_keys
  FROM (SELECT DISTINCT g.queue, g.concurrency_key FROM gone g) d;
  IF v_queues IS NULL THEN
    RETURN 0;
  END IF;
  PERFORM {{schema}}.key_lock(x.q, x.k)
  FROM unnest(v_queues, v_keys) WITH ORDINALITY AS x(q, k, n) ORDER BY x.n;
  RETURN {{schema}}.key_admit_next(v_queues, v_keys);
END
$$;
