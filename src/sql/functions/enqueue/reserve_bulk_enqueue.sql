-- Bulk enqueue, step 1 of 2 (step 2 is a COPY into {{schema}}.ready_entries). For each lane group
-- {group, queue, priority, key_hash (Algorithm H as a decimal string, or null)} take the lane
-- lock and reserve one block of lane positions (at most 65536 rows per group); reserve job ids
-- for all rows; take unique claims. Returns everything the client needs to stream rows with
-- explicit positions. A unique conflict with p_on_conflict 'error' raises 23505 whose DETAIL
-- names the first clashing row.
CREATE OR REPLACE FUNCTION {{schema}}.reserve_bulk_enqueue(p_groups jsonb, p_total int, p_unique jsonb,
  p_on_conflict text DEFAULT 'error')
RETURNS jsonb LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  g jsonb;
  shard smallint;
  lanes jsonb := '[]';
  cursor_slot smallint;
  cursor_gen bigint;
  first_id bigint;
  ids int8multirange;
  conflicts jsonb;
BEGIN
  -- The rows themselves arrive by COPY, past check_job_fields; the client checks every name
  -- with the same rules and passes the batch's distinct kinds and queues to check_batch_names.
  -- Job ids first, so unique claims (taken before lane locks) can name them.
  SELECT range_agg(int8range(v, v + 1)) INTO ids
  FROM (SELECT nextval('{{schema}}.job_id_seq') AS v FROM generate_series(1, p_total)) s;

  -- Unique claims: [{key: hex, index: n}]; indexes map into the id list.
  IF p_unique IS NOT NULL AND jsonb_array_length(p_unique) > 0 THEN
    WITH id_list AS (
      SELECT row_number() OVER (ORDER BY v) - 1 AS idx, v AS id
      FROM (SELECT generate_series(lower(r), upper(r) - 1) AS v FROM unnest(ids) r) x
    ), wanted AS (
      SELECT decode(u ->> 'key', 'hex') AS unique_key, (u ->> 'index')::bigint AS idx
      FROM jsonb_array_elements(p_unique) u
    ), ins AS (
      INSERT INTO {{schema}}.job_unique_claims (unique_key, job_id)
      SELECT w.unique_key, i.id FROM wanted w JOIN id_list i USING (idx)
      ORDER BY w.unique_key, w.idx
      ON CONFLICT (unique_key) DO NOTHING
      RETURNING job_id
    )
    -- A job conflicts unless its own claim went in: this also catches two jobs of one batch with
    -- the same key (the first in input order wins).
    SELECT coalesce(jsonb_agg(w.idx ORDER BY w.idx), '[]') INTO conflicts
    FROM wanted w JOIN id_list i USING (idx)
    WHERE NOT EXISTS (SELECT 1 FROM ins WHERE ins.job_id = i.id);
    IF p_on_conflict = 'error' AND jsonb_array_length(conflicts) > 0 THEN
      -- DETAIL names the first clashing row (its index in the batch and its key) as JSON, for
      -- the client's UniqueConflictError.
      RAISE EXCEPTION 'awa: % job(s) in the batch conflict with existing unique jobs',
        jsonb_array_length(conflicts)
        USING ERRCODE = '23505', CONSTRAINT = 'idx_awa_jobs_unique',
          DETAIL = (SELECT jsonb_build_object('index', (conflicts ->> 0)::int,
            'key', u ->> 'key')::text
            FROM jsonb_array_elements(p_unique) u
            WHERE (u ->> 'index')::int = (conflicts ->> 0)::int LIMIT 1);
    END IF;
  ELSE
    conflicts := '[]';
  END IF;

  -- Lane locks in sorted order (global lock order), one block reservation per lane.
  FOR g IN
    SELECT value FROM jsonb_array_elements(p_groups)
    ORDER BY value ->> 'queue', (value ->> 'priority')::int, (value ->> 'key_hash')::numeric NULLS FIRST
  LOOP
    shard := {{schema}}.lock_enqueue_lane(
      g ->> 'queue', (g ->> 'priority')::smallint, (g ->> 'key_hash')::numeric
    );
    lanes := lanes || jsonb_build_object(
      'group', g -> 'group', 'shard', shard, 'base', nextval('{{schema}}.lane_block_seq')::text
    );
  END LOOP;

  SELECT slot, generation INTO cursor_slot, cursor_gen FROM {{schema}}.ring_head('queue');

  -- Notifications are delivered at commit, so announcing the rows before they are copied costs
  -- nothing and saves the producer a round trip.
  PERFORM pg_notify({{schema}}.notify_channel(q), '')
  FROM (SELECT DISTINCT value ->> 'queue' AS q FROM jsonb_array_elements(p_groups)) g;

  RETURN jsonb_build_object(
    'ids', (SELECT jsonb_agg(jsonb_build_array(lower(r)::text, upper(r)::text)) FROM unnest(ids) r),
    'lanes', lanes, 'conflicts', conflicts, 'slot', cursor_slot,
    'generation', cursor_gen::text, 'now', clock_timestamp()
  );
END
$$;
