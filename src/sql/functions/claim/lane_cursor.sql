-- Claim cursor of a lane: positions below it have been emitted. Derived from the retained
-- emissions (one backward probe per slot), so it rolls back together with a failed claim.
-- plpgsql, not sql: a non-inlined SQL function is planned on every call, and planning this
-- 16-partition probe cost ~3 ms; plpgsql keeps the plan.
CREATE OR REPLACE FUNCTION {{schema}}.lane_cursor(p_queue text, p_priority smallint, p_shard smallint)
RETURNS bigint LANGUAGE plpgsql STABLE
SET plan_cache_mode = force_generic_plan AS $$
BEGIN
  RETURN coalesce((
    SELECT max(next_lane_seq) FROM {{schema}}.claim_emissions
    WHERE queue = p_queue AND priority = p_priority AND enqueue_shard = p_shard
  ), 0);
END
$$;
