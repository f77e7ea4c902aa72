-- Retry a held job (DLQ or failed): remove the hold and enqueue it afresh with attempt 0 and
-- run_lease 0. Error history is kept. Returns the job id, or null when no such hold exists.
CREATE OR REPLACE FUNCTION {{schema}}.retry_held(p_job_id bigint, p_queue text DEFAULT NULL,
  p_priority smallint DEFAULT NULL, p_run_at timestamptz DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v {{schema}}.dlq_entries;
  v_queue text;
  v_priority smallint;
BEGIN
  DELETE FROM {{schema}}.dlq_entries WHERE job_id = p_job_id RETURNING * INTO v;
  IF NOT FOUND THEN
    RETURN NULL;
  END IF;
  v_queue := coalesce(p_queue, v.queue);
  v_priority := coalesce(p_priority, v.priority);
  PERFORM {{schema}}.check_job_fields(v.kind, v_queue, v_priority, v.max_attempts, v.tags, v.metadata,
    v.args);
  IF v.unique_key IS NOT NULL AND {{schema}}.mask_has(v.unique_states,
    CASE WHEN p_run_at > clock_timestamp() THEN 'scheduled' ELSE 'available' END::{{schema}}.job_state)
  THEN
    INSERT INTO {{schema}}.job_unique_claims (unique_key, job_id) VALUES (v.unique_key, v.job_id)
    ON CONFLICT (unique_key) DO UPDATE SET job_id = excluded.job_id
      WHERE {{schema}}.job_unique_claims.job_id = excluded.job_id;
    IF NOT FOUND THEN
      RAISE EXCEPTION 'awa: another job holds this unique key' USING ERRCODE = '23505',
        CONSTRAINT = 'idx_awa_jobs_unique';
    END IF;
  END IF;
  IF p_run_at IS NOT NULL AND p_run_at > clock_timestamp() THEN
    INSERT INTO {{schema}}.deferred_jobs (job_id, state, run_at, queue, priority, kind, args, attempt,
      run_lease, max_attempts, created_at, tags, metadata, errors, unique_key, unique_states)
    VALUES (v.job_id, 'scheduled', p_run_at, v_queue, v_priority, v.kind, v.args, 0, 0,
      v.max_attempts, v.created_at, v.tags, v.metadata, v.errors, v.unique_key, v.unique_states);
  ELSE
    PERFORM {{schema}}.append_ready_job(v.job_id, v.kind, v.args, v_queue, v_priority, v.max_attempts,
      0::smallint, 0::bigint, v.created_at, v.tags, v.metadata, v.errors, NULL, v.unique_key,
      v.unique_states, NULL);
  END IF;
  RETURN v.job_id;
END
$$;
