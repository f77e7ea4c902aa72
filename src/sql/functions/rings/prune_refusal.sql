-- The gates of pruning slot p_slot of a ring, which prune_ring checks once before and once after
-- it takes the slot's locks. refusal: NULL when the slot may go, else the outcome that refuses
-- it (skipped_live, skipped_carry_limit; see prune_ring). live: the queue-ring slot's live rows
-- to carry first, counted up to p_limit + 1 (0 for the claim ring).
CREATE OR REPLACE FUNCTION {{schema}}.prune_refusal(p_ring text, p_slot smallint, p_limit int,
  OUT refusal text, OUT live int)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  live := 0;
  IF p_ring = 'claim' THEN
    IF NOT {{schema}}.prune_gates_pass(p_ring, p_slot) THEN
      refusal := 'skipped_live';
    END IF;
    RETURN;
  END IF;
  IF NOT {{schema}}.slot_claims_closed(p_slot) THEN
    refusal := 'skipped_live';
    RETURN;
  END IF;
  live := {{schema}}.slot_live_count(p_slot, p_limit);
  IF live > p_limit THEN
    refusal := CASE WHEN p_limit > 0 THEN 'skipped_carry_limit' ELSE 'skipped_live' END;
  END IF;
END
$$;
