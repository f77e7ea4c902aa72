-- Attempt locks use the two-int advisory form, a lock space apart from every bigint key Awa
-- takes (lanes, rings, leader), so a collision can only serialize two attempts, never block a
-- lane or the leader. Computing them is cheap, which matters at 512 items per flush.
CREATE OR REPLACE FUNCTION {{schema}}.attempt_lock(p_job_id bigint, p_run_lease bigint)
RETURNS void LANGUAGE sql VOLATILE AS $$
  SELECT pg_advisory_xact_lock((p_job_id % 2147483647)::int, (p_run_lease % 2147483647)::int)
$$;
