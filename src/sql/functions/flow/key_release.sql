-- Free the key slots of jobs that reached a terminal state (completed, cancelled, failed or
-- held) and admit the next waiting jobs of those keys, in the same transaction. Jobs without an
-- admission are ignored, so callers pass every terminal job. Keys are locked in sorted order.
CREATE OR REPLACE FUNCTION {{schema}}.key_release(p_job_ids bigint[])
RETURNS int LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_queues text[];
  v_keys text[];
BEGIN
  SELECT array_agg(d.queue ORDER BY d.queue, d.concurrency_key),
    array_agg(d.concurrency_key ORDER BY d.queue, d.concurrency_key)
  INTO v_queues, v_keys
  FROM (
    SELECT DISTINCT a.queue, a.concurrency_key FROM {{schema}}.key_admissions a
    WHERE a.job_id = ANY (p_job_ids)
  ) d;
  IF v_queues IS NULL THEN
    RETURN 0;
  END IF;
  PERFORM {{schema}}.key_lock(k.q, k.k)
  FROM (SELECT x.q, x.k FROM unnest(v_queues, v_keys) AS x(q, k) ORDER BY x.q, x.k) k;
  DELETE FROM {{schema}}.key_admissions a WHERE a.job_id = ANY (p_job_ids);
  RETURN {{schema}}.key_admit_next(v_queues, v_keys);
END
$$;
