-- Route a job that is about to become ready through its concurrency key, if it has one
-- (metadata "awa:concurrency_key"). Returns true when the job may be appended to its lane now:
-- it has no key or no limit, or the key has room and nobody waits before it (an admission row
-- is written). Returns false when the job was parked in key_waiting instead; the transition
-- that frees the key admits it (key_release).
CREATE OR REPLACE FUNCTION {{schema}}.key_enter(
  p_job_id bigint, p_kind text, p_args jsonb, p_queue text, p_priority smallint,
  p_max_attempts smallint, p_attempt smallint, p_run_lease bigint, p_created_at timestamptz,
  p_tags text[], p_metadata jsonb, p_errors jsonb, p_progress jsonb, p_unique_key bytea,
  p_unique_states bit(8)
) RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_key jsonb := p_metadata -> 'awa:concurrency_key';
  v_own jsonb := p_metadata -> 'awa:per_key';
  v_job_limit int;
  v_limit int;
BEGIN
  IF v_key IS NULL THEN
    RETURN true;
  END IF;
  IF jsonb_typeof(v_key) IS DISTINCT FROM 'string' OR length(v_key #>> '{}') NOT BETWEEN 1 AND 200 THEN
    RAISE EXCEPTION 'awa: invalid metadata."awa:concurrency_key": must be a string of 1-200 characters'
      USING ERRCODE = '22023';
  END IF;
  IF v_own IS NOT NULL THEN
    IF jsonb_typeof(v_own) IS DISTINCT FROM 'number' OR (v_own #>> '{}')::numeric NOT BETWEEN 1 AND 100000
       OR (v_own #>> '{}')::numeric <> trunc((v_own #>> '{}')::numeric) THEN
      RAISE EXCEPTION 'awa: invalid metadata."awa:per_key": must be an integer from 1 to 100000'
        USING ERRCODE = '22023';
    END IF;
    v_job_limit := (v_own #>> '{}')::int;
  END IF;
  -- The admission count below is read after the key lock, which needs a fresh snapshot per
  -- statement: a REPEATABLE READ transaction would count from a stale one and over-admit.
  IF current_setting('transaction_isolation') <> 'read committed' THEN
    RAISE EXCEPTION 'awa: jobs with a concurrency key must be inserted in a READ COMMITTED transaction'
      USING ERRCODE = '22023';
  END IF;

  PERFORM {{schema}}.key_lock(p_queue, v_key #>> '{}');
  v_limit := {{schema}}.key_limit(p_queue, v_job_limit);
  IF v_limit IS NULL THEN
    RETURN true;
  END IF;
  IF NOT EXISTS (
      SELECT 1 FROM {{schema}}.key_waiting w
      WHERE w.queue = p_queue AND w.concurrency_key = v_key #>> '{}'
    ) AND (
      SELECT count(*) FROM {{schema}}.key_admissions a
      WHERE a.queue = p_queue AND a.concurrency_key = v_key #>> '{}'
    ) < v_limit THEN
    INSERT INTO {{schema}}.key_admissions (job_id, queue, concurrency_key)
    VALUES (p_job_id, p_queue, v_key #>> '{}');
    RETURN true;
  END IF;
  INSERT INTO {{schema}}.key_waiting (
    queue, concurrency_key, seq, job_id, per_key, priority, kind, args, attempt, run_lease,
    max_attempts, created_at, tags, metadata, errors, progress, unique_key, unique_states
  ) VALUES (
    p_queue, v_key #>> '{}', nextval('{{schema}}.key_waiting_seq'), p_job_id, v_job_limit,
    p_priority, p_kind, p_args, p_attempt, p_run_lease, p_max_attempts, p_created_at, p_tags,
    p_metadata, p_errors, p_progress, p_unique_key, p_unique_states
  );
  RETURN false;
END
$$;
