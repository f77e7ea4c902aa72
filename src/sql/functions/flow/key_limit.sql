-- The per-key limit a keyed job of p_queue is admitted under: the queue's limit when one is set
-- (admin setConcurrencyLimit), else the job's own (metadata "awa:per_key"); null means none.
CREATE OR REPLACE FUNCTION {{schema}}.key_limit(p_queue text, p_job_limit int)
RETURNS int LANGUAGE sql STABLE AS $$
  SELECT coalesce((SELECT f.per_key FROM {{schema}}.queue_flow f WHERE f.queue = p_queue), p_job_limit)
$$;
