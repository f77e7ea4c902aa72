-- Number of live rows in a queue-ring slot, counting at most p_cap + 1.
CREATE OR REPLACE FUNCTION {{schema}}.slot_live_count(p_slot smallint, p_cap int)
RETURNS int LANGUAGE sql STABLE AS $$
  SELECT count(*)::int FROM (SELECT 1 FROM {{schema}}.slot_live_rows(p_slot) LIMIT p_cap + 1) x
$$;
