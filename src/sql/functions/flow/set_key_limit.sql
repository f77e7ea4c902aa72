-- Set (or clear, p_per_key null) the per-key concurrency limit of a queue, fleet-wide, and admit
-- at once the waiting jobs that the new limit has room for. Returns how many were admitted.
-- A lower limit admits nothing until the key's running jobs drop below it; nothing is stopped.
CREATE OR REPLACE FUNCTION {{schema}}.set_key_limit(p_queue text, p_per_key int)
RETURNS int LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_queues text[];
  v_keys text[];
BEGIN
  IF p_per_key IS NOT NULL AND p_per_key NOT BETWEEN 1 AND 100000 THEN
    RAISE EXCEPTION 'awa: invalid per_key: must be 1 to 100000' USING ERRCODE = '22023';
  END IF;
  INSERT INTO {{schema}}.queue_flow AS f (queue, per_key) VALUES (p_queue, p_per_key)
  ON CONFLICT (queue) DO UPDATE SET per_key = excluded.per_key
  WHERE f.per_key IS DISTINCT FROM excluded.per_key;

  SELECT array_agg(d.k ORDER BY d.k) INTO v_keys
  FROM (SELECT DISTINCT w.concurrency_key AS k FROM {{schema}}.key_waiting w WHERE w.queue = p_queue) d;
  IF v_keys IS NULL THEN
    RETURN 0;
  END IF;
  v_queues := array_fill(p_queue, ARRAY[cardinality(v_keys)]);
  PERFORM {{schema}}.key_lock(p_queue, k.k) FROM (SELECT x.k FROM unnest(v_keys) x(k) ORDER BY x.k) k;
  RETURN {{schema}}.key_admit_next(v_queues, v_keys);
END
$$;
