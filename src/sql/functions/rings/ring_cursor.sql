-- Current slot and generation of a ring (the newest ledger row), with the ring's size.
CREATE OR REPLACE FUNCTION {{schema}}.ring_cursor(p_ring text)
RETURNS TABLE (slot smallint, generation bigint, slot_count smallint)
LANGUAGE sql STABLE AS $$
  SELECT h.slot, h.generation, c.slot_count
  FROM {{schema}}.ring_head(p_ring) h JOIN {{schema}}.ring_config c ON c.ring = p_ring
$$;
