-- Create the hourly partitions of job_history from the current hour up to the longest
-- retention in use plus an hour, at most p_max_hours ahead (rows beyond land in the default
-- partition). A partition whose range the default partition already holds rows of is skipped
-- (those rows leave with the default partition). Returns how many partitions were created. The
-- parent's lock is waited for at most p_lock_timeout; a partition not created now is created
-- at a later call.
CREATE OR REPLACE FUNCTION {{schema}}.ensure_history_partitions(p_max_hours int DEFAULT 168,
  p_lock_timeout text DEFAULT '100ms')
RETURNS int LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_hour timestamptz := date_trunc('hour', now());
  v_hours int;
  v_from timestamptz;
  v_name text;
  v_made int := 0;
BEGIN
  SELECT least(p_max_hours, ceil(greatest(d.completed_ms,
      coalesce((SELECT max(m.completed_retention_ms) FROM {{schema}}.queue_meta m), 0))
      / 3600000.0)::int + 1)
  INTO v_hours FROM {{schema}}.retention_defaults d;
  PERFORM set_config('lock_timeout', p_lock_timeout, true);
  FOR i IN 0..v_hours LOOP
    v_from := v_hour + make_interval(hours => i);
    v_name := 'job_history_' || to_char(v_from AT TIME ZONE 'UTC', 'YYYYMMDDHH24');
    CONTINUE WHEN to_regclass('{{schema}}.' || v_name) IS NOT NULL;
    BEGIN
      EXECUTE format('CREATE TABLE {{schema}}.%I PARTITION OF {{schema}}.job_history '
        'FOR VALUES FROM (%L) TO (%L)', v_name, v_from, v_from + interval '1 hour');
      v_made := v_made + 1;
    EXCEPTION WHEN check_violation OR lock_not_available THEN
      NULL;
    END;
  END LOOP;
  PERFORM set_config('lock_timeout', '0', true);
  RETURN v_made;
END
$$;
