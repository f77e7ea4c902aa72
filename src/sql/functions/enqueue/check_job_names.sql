-- A job's kind and queue are names (see check_name); a queue name is also a NOTIFY channel
-- suffix, hence its shorter limit.
CREATE OR REPLACE FUNCTION {{schema}}.check_job_names(p_kind text, p_queue text)
RETURNS void LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  PERFORM {{schema}}.check_name('kind', p_kind, 200,
    'characters of letters, digits, _ . : - (starting with a letter, digit or _)');
  PERFORM {{schema}}.check_name('queue', p_queue, 59,
    'letters, digits, _ . : - (starting with a letter, digit or _; NOTIFY channel limit)');
END
$$;
