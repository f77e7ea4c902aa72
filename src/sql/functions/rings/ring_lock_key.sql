-- Advisory-lock key serialising rotate and prune of one ring; scoped to the schema.
CREATE OR REPLACE FUNCTION {{schema}}.ring_lock_key(p_ring text)
RETURNS bigint LANGUAGE sql IMMUTABLE AS $$
  SELECT hashtextextended('{{schema}}.ring/' || p_ring, 4)
$$;
