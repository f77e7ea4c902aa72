-- Delete up to p_limit finished flows (every node final) whose last node finished longer ago
-- than the completed-job retention (retention_defaults.completed_ms, or failed_ms when that is
-- longer): their jobs' results and history are gone by then, so their graph is no use. Edges
-- and gates go with their nodes. Flows locked by a cancel are skipped, not waited for. Returns
-- the number of flows deleted.
CREATE OR REPLACE FUNCTION {{schema}}.prune_finished_flows(p_limit int)
RETURNS int LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_keep interval;
  v_count int;
BEGIN
  SELECT make_interval(secs => greatest(d.completed_ms, coalesce(d.failed_ms, 0)) / 1000.0)
  INTO v_keep FROM {{schema}}.retention_defaults d;
  WITH done AS MATERIALIZED (
    SELECT f.flow_id FROM {{schema}}.flows f
    WHERE f.created_at < clock_timestamp() - v_keep
      AND NOT EXISTS (
        SELECT 1 FROM {{schema}}.flow_nodes n
        WHERE n.flow_id = f.flow_id AND (n.state IN ('waiting', 'released')
          OR coalesce(n.finished_at, f.created_at) >= clock_timestamp() - v_keep)
      )
    ORDER BY f.flow_id
    LIMIT p_limit
    FOR UPDATE SKIP LOCKED
  ), nodes AS MATERIALIZED (
    SELECT n.job_id FROM {{schema}}.flow_nodes n JOIN done d ON d.flow_id = n.flow_id
  ), gone_edges AS (
    DELETE FROM {{schema}}.flow_edges e USING nodes n WHERE e.child_id = n.job_id
  ), gone_gates AS (
    DELETE FROM {{schema}}.flow_gates g USING nodes n WHERE g.child_id = n.job_id
  ), gone AS (
    DELETE FROM {{schema}}.flows f USING done d WHERE f.flow_id = d.flow_id RETURNING 1
  )
  SELECT count(*)::int INTO v_count FROM gone;
  RETURN v_count;
END
$$;
