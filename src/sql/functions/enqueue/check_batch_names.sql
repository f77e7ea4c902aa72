-- The name checks for a COPY batch: every distinct kind and queue of the batch.
CREATE OR REPLACE FUNCTION {{schema}}.check_batch_names(p_kinds text[], p_queues text[])
RETURNS void LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
  v text;
BEGIN
  FOREACH v IN ARRAY coalesce(p_kinds, '{}') LOOP
    PERFORM {{schema}}.check_job_names(v, 'default');
  END LOOP;
  FOREACH v IN ARRAY coalesce(p_queues, '{}') LOOP
    PERFORM {{schema}}.check_job_names('kind', v);
  END LOOP;
END
$$;
