-- Enqueue one job of a cron schedule now, outside its timetable: metadata carries cron_name and
-- triggered_manually. Ignores pause and leaves last_enqueued_at alone, so the timetable goes on
-- as if nothing happened. Returns the job id, or NULL when no schedule has that name.
CREATE OR REPLACE FUNCTION {{schema}}.trigger_cron_job(p_name text) RETURNS bigint
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_row {{schema}}.cron_jobs;
BEGIN
  SELECT * INTO v_row FROM {{schema}}.cron_jobs WHERE name = p_name;
  IF NOT FOUND THEN
    RETURN NULL;
  END IF;
  RETURN (SELECT j.id FROM {{schema}}.insert_job(
    v_row.kind, v_row.args, v_row.queue, v_row.priority, v_row.max_attempts, NULL,
    v_row.metadata || jsonb_build_object('cron_name', v_row.name, 'triggered_manually', true),
    v_row.tags
  ) j);
END
$$;
