-- Insert a flow in one statement: the flows row, every node, its edges and gates. p_flow is
--   {flow_kind, name?, nodes: [{key, kind, args, queue, priority, max_attempts, run_at?, tags,
--     metadata, inputs?, job_id?, parents: [{key, satisfied_by, otherwise}]}]}
-- with nodes in dependency order (every parent before its children; src/flows/graph.ts sorts and
-- validates them, and this function refuses an unknown or later parent). A node without parents
-- is inserted as a job now through insert_job, unless it names the `job_id` of a job inserted
-- earlier in this transaction (the parent of follow-ups); the others wait in flow_nodes with
-- their body and reserved ids, which therefore grow from parents to children. Returns every
-- node's key and job id.
CREATE OR REPLACE FUNCTION {{schema}}.insert_flow(p_flow jsonb)
RETURNS TABLE (flow_id bigint, node_key text, job_id bigint) LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_flow bigint := nextval('{{schema}}.flow_id_seq');
  v_node jsonb;
  v_ids jsonb := '{}';
  v_id bigint;
  v_parents jsonb;
  v_stripes int;
  v_meta jsonb;
BEGIN
  INSERT INTO {{schema}}.flows (flow_id, flow_kind, name, node_count)
  VALUES (v_flow, p_flow ->> 'flow_kind', p_flow ->> 'name', jsonb_array_length(p_flow -> 'nodes'));

  FOR v_node IN SELECT x FROM jsonb_array_elements(p_flow -> 'nodes') x LOOP
    IF v_ids ? (v_node ->> 'key') THEN
      RAISE EXCEPTION 'awa: invalid flow: node "%" appears twice', v_node ->> 'key'
        USING ERRCODE = '22023';
    END IF;
    v_parents := coalesce(v_node -> 'parents', '[]');
    v_meta := coalesce(v_node -> 'metadata', '{}') || jsonb_build_object('awa:flow',
      jsonb_build_object('id', v_flow, 'node', v_node ->> 'key'));
    IF jsonb_array_length(v_parents) = 0 THEN
      IF v_node ? 'job_id' THEN
        v_id := (v_node ->> 'job_id')::bigint;
      ELSE
        SELECT j.id INTO v_id FROM {{schema}}.insert_job(v_node ->> 'kind', v_node -> 'args',
          v_node ->> 'queue', (v_node ->> 'priority')::smallint,
          (v_node ->> 'max_attempts')::smallint, (v_node ->> 'run_at')::timestamptz, v_meta,
          ARRAY(SELECT jsonb_array_elements_text(coalesce(v_node -> 'tags', '[]')))) j;
      END IF;
      INSERT INTO {{schema}}.flow_nodes (job_id, flow_id, node_key, state, kind)
      VALUES (v_id, v_flow, v_node ->> 'key', 'released', v_node ->> 'kind');
    ELSE
      PERFORM {{schema}}.check_job_fields(v_node ->> 'kind', v_node ->> 'queue',
        (v_node ->> 'priority')::smallint, (v_node ->> 'max_attempts')::smallint,
        ARRAY(SELECT jsonb_array_elements_text(coalesce(v_node -> 'tags', '[]'))), v_meta,
        v_node -> 'args');
      IF EXISTS (SELECT 1 FROM jsonb_array_elements(v_parents) p WHERE NOT v_ids ? (p ->> 'key'))
      THEN
        RAISE EXCEPTION 'awa: invalid flow: node "%" depends on a node that is not listed before it',
          v_node ->> 'key' USING ERRCODE = '22023';
      END IF;
      v_id := nextval('{{schema}}.job_id_seq');
      INSERT INTO {{schema}}.flow_nodes (job_id, flow_id, node_key, state, inputs, kind, args,
        queue, priority, max_attempts, run_at, tags, metadata)
      VALUES (v_id, v_flow, v_node ->> 'key', 'waiting', coalesce(v_node ->> 'inputs', 'parents'),
        v_node ->> 'kind', v_node -> 'args', v_node ->> 'queue', (v_node ->> 'priority')::smallint,
        (v_node ->> 'max_attempts')::smallint, (v_node ->> 'run_at')::timestamptz,
        ARRAY(SELECT jsonb_array_elements_text(coalesce(v_node -> 'tags', '[]'))), v_meta);
      -- At most 16 counter rows per node: a 1,000-member fan-in decrements 16 rows, not one.
      v_stripes := least(jsonb_array_length(v_parents), 16);
      INSERT INTO {{schema}}.flow_edges (parent_id, child_id, stripe, satisfied_by, otherwise)
      SELECT (v_ids ->> (p.x ->> 'key'))::bigint, v_id, ((p.n - 1) % v_stripes)::smallint,
        ARRAY(SELECT jsonb_array_elements_text(p.x -> 'satisfied_by')), p.x ->> 'otherwise'
      FROM jsonb_array_elements(v_parents) WITH ORDINALITY p(x, n);
      INSERT INTO {{schema}}.flow_gates (child_id, stripe, remaining)
      SELECT v_id, e.stripe, count(*) FROM {{schema}}.flow_edges e
      WHERE e.child_id = v_id GROUP BY e.stripe;
    END IF;
    v_ids := v_ids || jsonb_build_object(v_node ->> 'key', v_id);
  END LOOP;

  RETURN QUERY SELECT v_flow, k.key, k.value::text::bigint FROM jsonb_each(v_ids) k;
END
$$;
