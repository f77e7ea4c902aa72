-- Public SQL enqueue contract, v1. One signature, no overloads; `p_opts` is the only extension
-- point. A breaking change needs a new function name. Documented in docs/sql-enqueue-contract.md.
CREATE OR REPLACE FUNCTION {{schema}}.insert_job(
  p_kind text,
  p_args jsonb DEFAULT '{}',
  p_queue text DEFAULT 'default',
  p_priority smallint DEFAULT 2,
  p_max_attempts smallint DEFAULT 25,
  p_run_at timestamptz DEFAULT NULL,
  p_metadata jsonb DEFAULT '{}',
  p_tags text[] DEFAULT '{}',
  p_unique_key bytea DEFAULT NULL,
  p_unique_states bit(8) DEFAULT NULL,
  p_ordering_key bytea DEFAULT NULL,
  p_opts jsonb DEFAULT '{}'
) RETURNS SETOF {{schema}}.inserted_job LANGUAGE plpgsql VOLATILE
-- Runs as the schema owner, so a producer role needs EXECUTE on this function and nothing on
-- the tables (docs/operations.md, least-privilege roles); the fixed search_path keeps a
-- caller's objects out of the body's name lookups.
SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  v_args jsonb := coalesce(p_args, '{}');
  v_queue text := coalesce(p_queue, 'default');
  v_priority smallint := coalesce(p_priority, 2);
  v_max_attempts smallint := coalesce(p_max_attempts, 25);
  v_metadata jsonb := coalesce(p_metadata, '{}');
  v_tags text[] := coalesce(p_tags, '{}');
  v_opts jsonb := coalesce(p_opts, '{}');
  v_mask bit(8) := coalesce(p_unique_states, B'11111000');
  v_on_conflict text := 'error';
  v_now timestamptz := clock_timestamp();
  v_state {{schema}}.job_state;
  v_id bigint;
  v_shard smallint;
  v_key text;
BEGIN
  IF jsonb_typeof(v_opts) IS DISTINCT FROM 'object' THEN
    RAISE EXCEPTION 'awa: invalid opts: must be a JSON object' USING ERRCODE = '22023';
  END IF;
  -- Empty opts (nearly every insert) skip the key loop, which is a query of its own.
  IF v_opts <> '{}'::jsonb THEN
    FOR v_key IN SELECT jsonb_object_keys(v_opts) LOOP
      IF v_key <> 'on_conflict' THEN
        RAISE EXCEPTION 'awa: unknown opts key "%"', v_key USING ERRCODE = '22023';
      END IF;
    END LOOP;
  END IF;
  IF v_opts ? 'on_conflict' THEN
    IF jsonb_typeof(v_opts -> 'on_conflict') IS DISTINCT FROM 'string'
       OR v_opts ->> 'on_conflict' NOT IN ('error', 'skip') THEN
      RAISE EXCEPTION 'awa: invalid opts.on_conflict: must be "error" or "skip"'
        USING ERRCODE = '22023';
    END IF;
    v_on_conflict := v_opts ->> 'on_conflict';
  END IF;
  PERFORM {{schema}}.check_job_fields(p_kind, v_queue, v_priority, v_max_attempts, v_tags, v_metadata, v_args);
  IF p_unique_key IS NOT NULL AND octet_length(p_unique_key) <> 16 THEN
    RAISE EXCEPTION 'awa: invalid unique_key: must be 16 bytes' USING ERRCODE = '23514';
  END IF;

  v_state := CASE WHEN p_run_at IS NOT NULL AND p_run_at > v_now THEN 'scheduled'
                  ELSE 'available' END;
  v_id := nextval('{{schema}}.job_id_seq');

  -- Unique claims come before any lane lock (global lock order).
  IF p_unique_key IS NOT NULL AND {{schema}}.mask_has(v_mask, v_state) THEN
    IF v_on_conflict = 'skip' THEN
      INSERT INTO {{schema}}.job_unique_claims (unique_key, job_id) VALUES (p_unique_key, v_id)
      ON CONFLICT (unique_key) DO NOTHING;
      IF NOT FOUND THEN
        RETURN;
      END IF;
    ELSE
      INSERT INTO {{schema}}.job_unique_claims (unique_key, job_id) VALUES (p_unique_key, v_id);
    END IF;
  END IF;

  IF v_state = 'scheduled' THEN
    INSERT INTO {{schema}}.deferred_jobs (
      job_id, state, run_at, queue, priority, kind, args, attempt, run_lease, max_attempts,
      created_at, tags, metadata, unique_key, unique_states
    ) VALUES (
      v_id, 'scheduled', p_run_at, v_queue, v_priority, p_kind, v_args, 0, 0, v_max_attempts,
      v_now, v_tags, v_metadata, p_unique_key, CASE WHEN p_unique_key IS NOT NULL THEN v_mask END
    );
  ELSE
    v_shard := {{schema}}.append_ready_job(
      v_id, p_kind, v_args, v_queue, v_priority, v_max_attempts, 0::smallint, 0::bigint, v_now,
      v_tags, v_metadata, NULL, NULL, p_unique_key,
      CASE WHEN p_unique_key IS NOT NULL THEN v_mask END, p_ordering_key
    );
  END IF;

  RETURN QUERY SELECT v_id, p_kind, v_queue, v_state::text, v_priority, v_max_attempts,
    coalesce(p_run_at, v_now), v_now, p_unique_key, v_shard;
END
$$;

COMMENT ON FUNCTION {{schema}}.insert_job(text, jsonb, text, smallint, smallint, timestamptz, jsonb, text[], bytea, bit, bytea, jsonb)
  IS '{{schema}}.insert_job v1 — public SQL enqueue contract; see docs/sql-enqueue-contract.md';

-- EXECUTE goes only to the roles granted it (grant_producer, grant_worker, grant_operator):
-- owner rights must not be open to every role that can see the schema.
REVOKE ALL ON FUNCTION {{schema}}.insert_job(text, jsonb, text, smallint, smallint, timestamptz, jsonb, text[], bytea, bit, bytea, jsonb)
  FROM PUBLIC;
