-- Tell runtimes that a callback was resolved: NOTIFY '@callback' with the attempt, the action,
-- the job's state after it and the runtime that claimed the attempt (only that runtime emits
-- its callbackResolved event). Delivered at commit, so a rolled-back resolution says nothing.
CREATE OR REPLACE FUNCTION {{schema}}.notify_callback(p_job_id bigint, p_run_lease bigint,
  p_callback_id uuid, p_action text, p_state text, p_instance_id uuid)
RETURNS void LANGUAGE sql VOLATILE AS $$
  SELECT pg_notify({{schema}}.notify_channel('@callback'), json_build_object('job_id', p_job_id,
    'run_lease', p_run_lease, 'callback_id', p_callback_id, 'action', p_action,
    'state', p_state, 'instance_id', p_instance_id)::text)
$$;
