-- Advisory-lock key for a lane. purpose 1 = enqueue lock, 2 = claim lock. The schema name is
-- part of the key so two Awa schemas in one database never share a lock.
CREATE OR REPLACE FUNCTION {{schema}}.lane_key(p_queue text, p_priority smallint, p_shard smallint, p_purpose int)
RETURNS bigint LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT hashtextextended('{{schema}}.' || p_queue || '/' || p_priority || '/' || p_shard, p_purpose)
$$;
