-- The jobs of an insertMany batch that carry a concurrency key, inserted one by one through
-- insert_job (so each enters its key) in one round trip. p_jobs is a JSON array of
--   {idx, kind, args, queue, priority, max_attempts, run_at?, metadata, tags, unique_key?
--    (hex), unique_states?, ordering_key? (hex)}
-- Returns (idx, id) per job; id is null where p_on_conflict 'skip' dropped a duplicate. The keys
-- of immediate jobs are locked first, in sorted order, so the batch never holds a lane lock
-- while it waits for a key.
CREATE OR REPLACE FUNCTION {{schema}}.insert_keyed_jobs(p_jobs jsonb, p_on_conflict text)
RETURNS TABLE (idx int, id bigint) LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v jsonb;
  v_id bigint;
BEGIN
  PERFORM {{schema}}.key_lock(k.queue, k.ckey) FROM (
    SELECT DISTINCT j ->> 'queue' AS queue, j -> 'metadata' ->> 'awa:concurrency_key' AS ckey
    FROM jsonb_array_elements(p_jobs) j
    WHERE (j ->> 'run_at') IS NULL OR (j ->> 'run_at')::timestamptz <= clock_timestamp()
    ORDER BY 1, 2
  ) k WHERE k.ckey IS NOT NULL;
  FOR v IN SELECT j FROM jsonb_array_elements(p_jobs) j LOOP
    SELECT i.id INTO v_id FROM {{schema}}.insert_job(
      v ->> 'kind', v -> 'args', v ->> 'queue', (v ->> 'priority')::smallint,
      (v ->> 'max_attempts')::smallint, (v ->> 'run_at')::timestamptz, v -> 'metadata',
      ARRAY(SELECT jsonb_array_elements_text(v -> 'tags')),
      decode(v ->> 'unique_key', 'hex'), (v ->> 'unique_states')::bit(8),
      decode(v ->> 'ordering_key', 'hex'), jsonb_build_object('on_conflict', p_on_conflict)
    ) i;
    IF NOT FOUND THEN
      v_id := NULL;
    END IF;
    idx := (v ->> 'idx')::int;
    id := v_id;
    RETURN NEXT;
  END LOOP;
END
$$;
