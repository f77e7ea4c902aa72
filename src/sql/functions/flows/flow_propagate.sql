-- Carry finished nodes (p_done: [{job_id, state}], their rows already final and locked by this
-- transaction) to their children, until nothing more changes:
--   1. each satisfied edge decrements its child's gate row of its stripe (UPDATE ... RETURNING,
--      rows locked in sorted order first);
--   2. a child with a stripe at zero, or with an unsatisfied edge, is locked (sorted) and then
--      decided in a fresh statement, which sees every decrement committed before the lock was
--      granted: still waiting and an unsatisfied edge -> failed, cancelled or skipped without
--      running (and a `cancel` edge cancels the rest of the flow); still waiting, every stripe at
--      zero -> released into the ready ring (or the deferred plane when its run_at is ahead), or
--      cancelled when its flow was cancelled.
-- Two parents finishing at once in two transactions: the second to lock the child sees both
-- decrements, the first sees the other's stripe still above zero, so exactly one releases it.
CREATE OR REPLACE FUNCTION {{schema}}.flow_propagate(p_done jsonb, p_busy bigint[])
RETURNS void LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_done jsonb := p_done;
  v_next jsonb;
  v_children bigint[];
  v_child record;
  v_final text;
  v_cancel bigint[];
  v_flow bigint;
  v_meta jsonb;
  v_now timestamptz;
BEGIN
  WHILE v_done IS NOT NULL AND jsonb_array_length(v_done) > 0 LOOP
    PERFORM 1 FROM {{schema}}.flow_gates g
    WHERE (g.child_id, g.stripe) IN (
      SELECT e.child_id, e.stripe
      FROM jsonb_to_recordset(v_done) d(job_id bigint, state text)
      JOIN {{schema}}.flow_edges e ON e.parent_id = d.job_id
      WHERE d.state = ANY (e.satisfied_by))
    ORDER BY g.child_id, g.stripe FOR UPDATE;

    WITH s AS (
      SELECT e.child_id, e.stripe, count(*)::int AS n
      FROM jsonb_to_recordset(v_done) d(job_id bigint, state text)
      JOIN {{schema}}.flow_edges e ON e.parent_id = d.job_id
      WHERE d.state = ANY (e.satisfied_by)
      GROUP BY e.child_id, e.stripe
    ), dec AS (
      UPDATE {{schema}}.flow_gates g SET remaining = g.remaining - s.n
      FROM s WHERE g.child_id = s.child_id AND g.stripe = s.stripe
      RETURNING g.child_id, g.remaining
    )
    SELECT array_agg(DISTINCT c.child_id ORDER BY c.child_id) INTO v_children FROM (
      SELECT dec.child_id FROM dec WHERE dec.remaining = 0
      UNION
      SELECT e.child_id
      FROM jsonb_to_recordset(v_done) d(job_id bigint, state text)
      JOIN {{schema}}.flow_edges e ON e.parent_id = d.job_id
      WHERE NOT d.state = ANY (e.satisfied_by)
    ) c;

    v_next := '[]';
    v_cancel := '{}';
    IF v_children IS NOT NULL THEN
      PERFORM 1 FROM {{schema}}.flow_nodes n
      WHERE n.job_id = ANY (v_children) AND n.state = 'waiting'
      ORDER BY n.job_id FOR UPDATE;

      FOR v_child IN
        SELECT n.*, f.cancelled_at,
          (SELECT CASE WHEN bool_or(e.otherwise = 'cancel') THEN 'cancel'
              WHEN bool_or(e.otherwise = 'fail') THEN 'fail'
              WHEN bool_or(e.otherwise = 'skip') THEN 'skip' END
           FROM {{schema}}.flow_edges e
           JOIN {{schema}}.flow_nodes p ON p.job_id = e.parent_id
           WHERE e.child_id = n.job_id
             AND p.state IN ('completed', 'failed', 'cancelled', 'skipped')
             AND NOT p.state = ANY (e.satisfied_by)) AS verdict,
          (SELECT sum(g.remaining) FROM {{schema}}.flow_gates g WHERE g.child_id = n.job_id)
            AS remaining
        FROM {{schema}}.flow_nodes n
        JOIN {{schema}}.flows f ON f.flow_id = n.flow_id
        WHERE n.job_id = ANY (v_children) AND n.state = 'waiting'
        ORDER BY n.job_id
      LOOP
        v_final := CASE
          WHEN v_child.verdict = 'cancel' THEN 'cancelled'
          WHEN v_child.verdict = 'fail' THEN 'failed'
          WHEN v_child.verdict = 'skip' THEN 'skipped'
          WHEN v_child.remaining = 0 AND v_child.cancelled_at IS NOT NULL THEN 'cancelled'
        END;
        IF v_final IS NOT NULL THEN
          UPDATE {{schema}}.flow_nodes SET state = v_final, finished_at = clock_timestamp(),
            args = NULL, metadata = NULL
          WHERE job_id = v_child.job_id;
          v_next := v_next || jsonb_build_array(jsonb_build_object('job_id', v_child.job_id,
            'state', v_final));
          IF v_child.verdict = 'cancel' THEN
            v_cancel := v_cancel || v_child.flow_id;
          END IF;
        ELSIF v_child.remaining = 0 THEN
          v_meta := v_child.metadata || CASE WHEN v_child.inputs = 'counts' THEN
            (SELECT jsonb_build_object('awa:batch', jsonb_build_object(
                'id', v_child.flow_id, 'total', count(*),
                'completed', count(*) FILTER (WHERE p.state = 'completed'),
                'failed', count(*) FILTER (WHERE p.state = 'failed'),
                'cancelled', count(*) FILTER (WHERE p.state IN ('cancelled', 'skipped'))))
             FROM {{schema}}.flow_edges e JOIN {{schema}}.flow_nodes p ON p.job_id = e.parent_id
             WHERE e.child_id = v_child.job_id)
          ELSE
            (SELECT jsonb_build_object('awa:parents', jsonb_object_agg(p.node_key,
                jsonb_build_object('job_id', p.job_id, 'state', p.state, 'result', p.result)))
             FROM {{schema}}.flow_edges e JOIN {{schema}}.flow_nodes p ON p.job_id = e.parent_id
             WHERE e.child_id = v_child.job_id)
          END;
          v_now := clock_timestamp();
          IF v_child.run_at IS NOT NULL AND v_child.run_at > v_now THEN
            INSERT INTO {{schema}}.deferred_jobs (job_id, state, run_at, queue, priority, kind,
              args, attempt, run_lease, max_attempts, created_at, tags, metadata)
            VALUES (v_child.job_id, 'scheduled', v_child.run_at, v_child.queue, v_child.priority,
              v_child.kind, v_child.args, 0, 0, v_child.max_attempts, v_now, v_child.tags, v_meta);
          ELSE
            PERFORM {{schema}}.append_ready_job(v_child.job_id, v_child.kind, v_child.args,
              v_child.queue, v_child.priority, v_child.max_attempts, 0::smallint, 0::bigint,
              v_now, v_child.tags, v_meta, NULL, NULL, NULL, NULL, NULL);
          END IF;
          UPDATE {{schema}}.flow_nodes SET state = 'released', args = NULL, metadata = NULL
          WHERE job_id = v_child.job_id;
        END IF;
      END LOOP;
    END IF;

    FOREACH v_flow IN ARRAY v_cancel LOOP
      PERFORM {{schema}}.cancel_flow(v_flow, 'a node this flow depends on did not complete',
        p_busy);
    END LOOP;
    v_done := v_next;
  END LOOP;
END
$$;
