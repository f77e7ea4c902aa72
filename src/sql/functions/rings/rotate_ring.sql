-- Rotate a ring to its next slot. Outcomes: rotated, skipped_busy (lock held, or the incoming
-- slot still holds rows), skipped_idle (nothing in the ring: idle rings do not churn), lost_race.
CREATE OR REPLACE FUNCTION {{schema}}.rotate_ring(p_ring text)
RETURNS text LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_slot smallint;
  v_gen bigint;
  v_n smallint;
  v_next smallint;
  v_any boolean;
BEGIN
  SELECT c.slot, c.generation, c.slot_count INTO v_slot, v_gen, v_n FROM {{schema}}.lock_ring(p_ring) c;
  -- Busy: another rotate or prune holds the ring (no cursor), or the next slot still has rows.
  v_next := mod(v_slot + 1, v_n);
  IF v_slot IS NULL OR NOT {{schema}}.ring_slot_empty(p_ring, v_next) THEN
    RETURN 'skipped_busy';
  END IF;
  IF p_ring = 'queue' THEN
    v_any := EXISTS (SELECT 1 FROM {{schema}}.ready_entries) OR EXISTS (SELECT 1 FROM {{schema}}.done_entries);
  ELSE
    v_any := EXISTS (SELECT 1 FROM {{schema}}.claim_batches);
  END IF;
  IF NOT v_any THEN
    RETURN 'skipped_idle';
  END IF;
  INSERT INTO {{schema}}.ring_rotations (ring, generation, slot) VALUES (p_ring, v_gen + 1, v_next)
  ON CONFLICT DO NOTHING;
  IF NOT FOUND THEN
    RETURN 'lost_race';
  END IF;
  RETURN 'rotated';
END
$$;
