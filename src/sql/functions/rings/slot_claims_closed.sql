-- Gate (a) of a queue-ring slot: every claim emitted from it has been closed.
CREATE OR REPLACE FUNCTION {{schema}}.slot_claims_closed(p_slot smallint)
RETURNS boolean LANGUAGE sql STABLE AS $$
  SELECT (SELECT coalesce(sum(claimed_count), 0) FROM {{schema}}.claim_batches WHERE ready_slot = p_slot)
    = (SELECT coalesce(sum(closed_count), 0) FROM {{schema}}.claim_closures WHERE ready_slot = p_slot)
$$;
