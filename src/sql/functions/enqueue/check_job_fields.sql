-- The field checks of one job (insert_job, retry_held): names by check_job_names, then priority,
-- max_attempts, tags, metadata and args. A violation raises 23514 with a message starting 'awa: '.
CREATE OR REPLACE FUNCTION {{schema}}.check_job_fields(
  p_kind text, p_queue text, p_priority smallint, p_max_attempts smallint, p_tags text[],
  p_metadata jsonb, p_args jsonb
) RETURNS void LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  PERFORM {{schema}}.check_job_names(p_kind, p_queue);
  IF p_priority IS NULL OR p_priority NOT BETWEEN 1 AND 4 THEN
    RAISE EXCEPTION 'awa: invalid priority: must be 1 to 4' USING ERRCODE = '23514';
  END IF;
  IF p_max_attempts IS NULL OR p_max_attempts NOT BETWEEN 1 AND 1000 THEN
    RAISE EXCEPTION 'awa: invalid max_attempts: must be 1 to 1000' USING ERRCODE = '23514';
  END IF;
  IF cardinality(p_tags) > 20 THEN
    RAISE EXCEPTION 'awa: invalid tags: at most 20' USING ERRCODE = '23514';
  END IF;
  IF jsonb_typeof(p_metadata) IS DISTINCT FROM 'object' THEN
    RAISE EXCEPTION 'awa: invalid metadata: must be a JSON object' USING ERRCODE = '23514';
  END IF;
  IF p_args IS NULL THEN
    RAISE EXCEPTION 'awa: invalid args: must not be null' USING ERRCODE = '23514';
  END IF;
END
$$;
