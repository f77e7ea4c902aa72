-- The cursor of a ring: the slot and generation of its newest ledger row. Every writer that
-- places a row in a ring reads it here. LANGUAGE sql, STABLE, one SELECT: the planner inlines
-- it into the caller's statement, so it costs what the query written out would.
CREATE OR REPLACE FUNCTION {{schema}}.ring_head(p_ring text)
RETURNS TABLE (slot smallint, generation bigint)
LANGUAGE sql STABLE AS $$
  SELECT r.slot, r.generation FROM {{schema}}.ring_rotations r
  WHERE r.ring = p_ring ORDER BY r.generation DESC LIMIT 1
$$;
