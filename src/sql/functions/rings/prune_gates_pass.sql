-- Gates of a prune target. Queue ring: (a) every claim emitted from the slot is closed, (b) no
-- lane has an unclaimed, untombstoned row in it. Claim ring: every receipt in the slot is closed.
-- Gates cover the whole slot, never filtered by generation, so late writers are seen.
CREATE OR REPLACE FUNCTION {{schema}}.prune_gates_pass(p_ring text, p_slot smallint)
RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  IF p_ring = 'claim' THEN
    RETURN (SELECT coalesce(sum(claimed_count), 0) FROM {{schema}}.claim_batches WHERE claim_slot = p_slot)
      = (SELECT coalesce(sum(closed_count), 0) FROM {{schema}}.claim_closures WHERE claim_slot = p_slot);
  END IF;
  IF (SELECT coalesce(sum(claimed_count), 0) FROM {{schema}}.claim_batches WHERE ready_slot = p_slot)
     <> (SELECT coalesce(sum(closed_count), 0) FROM {{schema}}.claim_closures WHERE ready_slot = p_slot)
  THEN
    RETURN false;
  END IF;
  RETURN NOT EXISTS (
    SELECT 1 FROM (
      SELECT r.queue, r.priority, r.enqueue_shard, max(r.lane_seq) AS top
      FROM {{schema}}.ready_entries r
      WHERE r.ready_slot = p_slot
        AND NOT EXISTS (
          SELECT 1 FROM {{schema}}.ready_tombstones t
          WHERE t.ready_slot = r.ready_slot AND t.queue = r.queue AND t.priority = r.priority
            AND t.enqueue_shard = r.enqueue_shard AND t.lane_seq = r.lane_seq
        )
      GROUP BY r.queue, r.priority, r.enqueue_shard
    ) l
    WHERE l.top >= {{schema}}.lane_cursor(l.queue, l.priority, l.enqueue_shard)
  );
END
$$;
