-- Fire one cron schedule: advance its last_enqueued_at to the latest of p_fire_times, only if it
-- still equals p_expected (what the caller read) and the schedule is not paused, and insert one
-- job per fire time through insert_job, in order. One statement: the advance and the jobs commit
-- together or not at all, and a second leader that read the same value finds the row changed
-- (its UPDATE waits on the row lock, then re-checks) and fires nothing. Returns the job ids; none
-- when the compare-and-swap lost.
CREATE OR REPLACE FUNCTION {{schema}}.fire_cron_job(
  p_name text, p_expected timestamptz, p_fire_times timestamptz[]
) RETURNS SETOF bigint LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_latest timestamptz := (SELECT max(t) FROM unnest(p_fire_times) t);
  v_row {{schema}}.cron_jobs;
  v_fire timestamptz;
BEGIN
  IF v_latest IS NULL THEN
    RETURN;
  END IF;
  IF p_expected IS NOT NULL AND EXISTS (SELECT 1 FROM unnest(p_fire_times) t WHERE t <= p_expected) THEN
    RAISE EXCEPTION 'awa: invalid fire times: each must be after the last enqueued fire'
      USING ERRCODE = '22023';
  END IF;
  UPDATE {{schema}}.cron_jobs SET last_enqueued_at = v_latest
  WHERE name = p_name AND last_enqueued_at IS NOT DISTINCT FROM p_expected AND paused_at IS NULL
  RETURNING * INTO v_row;
  IF NOT FOUND THEN
    RETURN;
  END IF;
  FOR v_fire IN SELECT DISTINCT t FROM unnest(p_fire_times) t ORDER BY t LOOP
    RETURN QUERY SELECT j.id FROM {{schema}}.insert_job(
      v_row.kind, v_row.args, v_row.queue, v_row.priority, v_row.max_attempts, NULL,
      v_row.metadata || jsonb_build_object(
        'cron_name', v_row.name,
        -- timestamptz text as the server prints it in UTC, whatever the session's TimeZone.
        'cron_fire_time', to_char(v_fire AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || '+00'
      ),
      v_row.tags
    ) j;
  END LOOP;
END
$$;
