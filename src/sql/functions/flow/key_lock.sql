-- Take the lock of one concurrency key of a queue until the transaction ends. Every admission
-- to the key (insert, release, promotion, a changed limit) happens under it, so the count of
-- admitted jobs read after it is exact. Purpose 3: apart from the lane locks (lane_key 1, 2).
CREATE OR REPLACE FUNCTION {{schema}}.key_lock(p_queue text, p_key text)
RETURNS void LANGUAGE sql VOLATILE AS $$
  SELECT pg_advisory_xact_lock(hashtextextended('{{schema}}.' || p_queue || '/' || p_key, 3))
$$;
