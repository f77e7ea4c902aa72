-- Live rows of a queue-ring slot (gate (b) fails while there is one): untombstoned rows at or
-- above their lane's cursor. The cursor is computed once per lane present in the slot.
CREATE OR REPLACE FUNCTION {{schema}}.slot_live_rows(p_slot smallint)
RETURNS SETOF {{schema}}.ready_entries LANGUAGE sql STABLE AS $$
  WITH lanes AS MATERIALIZED (
    -- MATERIALIZED: otherwise the planner evaluates the cursor once per row instead of per lane.
    SELECT l.queue, l.priority, l.enqueue_shard,
      {{schema}}.lane_cursor(l.queue, l.priority, l.enqueue_shard) AS c
    FROM (
      SELECT DISTINCT x.queue, x.priority, x.enqueue_shard FROM {{schema}}.ready_entries x
      WHERE x.ready_slot = p_slot
    ) l
  )
  SELECT r.*
  FROM lanes l
  JOIN {{schema}}.ready_entries r
    ON r.ready_slot = p_slot AND r.queue = l.queue AND r.priority = l.priority
    AND r.enqueue_shard = l.enqueue_shard AND r.lane_seq >= l.c
  WHERE NOT EXISTS (
    SELECT 1 FROM {{schema}}.ready_tombstones t
    WHERE t.ready_slot = r.ready_slot AND t.queue = r.queue AND t.priority = r.priority
      AND t.enqueue_shard = r.enqueue_shard AND t.lane_seq = r.lane_seq
  )
$$;
