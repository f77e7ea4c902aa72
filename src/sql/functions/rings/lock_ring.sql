-- Take the ring's rotate/prune lock without waiting and read its cursor, in a statement after
-- the lock, so a rotation the previous holder committed is seen. All NULL when another rotate
-- or prune holds the ring.
CREATE OR REPLACE FUNCTION {{schema}}.lock_ring(p_ring text,
  OUT slot smallint, OUT generation bigint, OUT slot_count smallint)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  IF pg_try_advisory_xact_lock({{schema}}.ring_lock_key(p_ring)) THEN
    SELECT c.slot, c.generation, c.slot_count INTO slot, generation, slot_count
    FROM {{schema}}.ring_cursor(p_ring) c;
  END IF;
END
$$;
