-- The try form of attempt_lock, for rescue, which skips attempts a finalizer holds.
CREATE OR REPLACE FUNCTION {{schema}}.attempt_try_lock(p_job_id bigint, p_run_lease bigint)
RETURNS boolean LANGUAGE sql VOLATILE AS $$
  SELECT pg_try_advisory_xact_lock((p_job_id % 2147483647)::int, (p_run_lease % 2147483647)::int)
$$;
