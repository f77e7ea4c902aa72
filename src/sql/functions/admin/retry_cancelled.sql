-- Retry a cancelled job: its terminal record is append-only (in the ring or in history), so the
-- job is enqueued again as a copy under a new id (same kind, args, tags, metadata, max attempts
-- and unique key; queue, priority and run time overridable), through insert_job. Returns the
-- new id, or null when no cancelled job has this id.
CREATE OR REPLACE FUNCTION {{schema}}.retry_cancelled(p_job_id bigint, p_queue text DEFAULT NULL,
  p_priority smallint DEFAULT NULL, p_run_at timestamptz DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v record;
BEGIN
  SELECT f.kind, f.args, f.queue, f.priority, f.max_attempts, f.metadata, f.tags, f.unique_key,
    f.unique_states INTO v
  FROM (
    SELECT r.kind, r.args, r.queue, r.priority, r.max_attempts, r.metadata, r.tags, r.unique_key,
      r.unique_states, r.finalized_at, r.state
    FROM {{schema}}.finished_in_ring r WHERE r.job_id = p_job_id
    UNION ALL
    SELECT h.kind, h.args, h.queue, h.priority, h.max_attempts, h.metadata, h.tags, h.unique_key,
      h.unique_states, h.finalized_at, h.state
    FROM {{schema}}.job_history h WHERE h.job_id = p_job_id
  ) f
  WHERE f.state = 'cancelled'
  ORDER BY f.finalized_at DESC
  LIMIT 1;
  IF NOT FOUND THEN
    RETURN NULL;
  END IF;
  RETURN (SELECT j.id FROM {{schema}}.insert_job(v.kind, v.args, coalesce(p_queue, v.queue),
    coalesce(p_priority, v.priority), v.max_attempts, p_run_at, v.metadata, v.tags,
    v.unique_key, CASE WHEN v.unique_key IS NOT NULL THEN v.unique_states END) j);
END
$$;
