-- True when no row of any table of the ring lives in `p_slot`.
CREATE OR REPLACE FUNCTION {{schema}}.ring_slot_empty(p_ring text, p_slot smallint)
RETURNS boolean LANGUAGE sql STABLE AS $$
  SELECT CASE p_ring
    WHEN 'queue' THEN
      NOT EXISTS (SELECT 1 FROM {{schema}}.ready_entries WHERE ready_slot = p_slot)
      AND NOT EXISTS (SELECT 1 FROM {{schema}}.ready_tombstones WHERE ready_slot = p_slot)
      AND NOT EXISTS (SELECT 1 FROM {{schema}}.claim_emissions WHERE ready_slot = p_slot)
      AND NOT EXISTS (SELECT 1 FROM {{schema}}.done_entries WHERE ready_slot = p_slot)
    ELSE
      NOT EXISTS (SELECT 1 FROM {{schema}}.claim_batches WHERE claim_slot = p_slot)
      AND NOT EXISTS (SELECT 1 FROM {{schema}}.claim_closures WHERE claim_slot = p_slot)
  END
$$;
