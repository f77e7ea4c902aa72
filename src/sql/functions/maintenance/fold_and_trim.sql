-- Fold rollup deltas and trim the rotation ledger (small deletes; run every ~30 s).
CREATE OR REPLACE FUNCTION {{schema}}.fold_and_trim()
RETURNS void LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  WITH moved AS (
    DELETE FROM {{schema}}.terminal_rollup_deltas RETURNING queue, state, delta
  ), summed AS (
    SELECT queue, state, sum(delta) AS delta FROM moved GROUP BY queue, state
  )
  INSERT INTO {{schema}}.terminal_rollups AS t (queue, state, total)
  SELECT queue, state, greatest(delta, 0) FROM summed
  ON CONFLICT (queue, state) DO UPDATE SET total = greatest(t.total + excluded.total, 0);

  DELETE FROM {{schema}}.ring_rotations r
  USING {{schema}}.ring_config c
  WHERE r.ring = c.ring
    AND r.generation < (SELECT max(generation) FROM {{schema}}.ring_rotations x WHERE x.ring = r.ring)
      - c.slot_count;
END
$$;
