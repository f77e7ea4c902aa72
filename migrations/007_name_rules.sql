-- Job kinds and queue names: the same rules in SQL as in TypeScript (src/validate.ts NAME_RE,
-- MAX_KIND_LENGTH, MAX_QUEUE_BYTES; tests/validation_names_test.ts runs one list of names
-- through both). Until now awa.insert_job checked only lengths, so it accepted kinds and queues
-- ('odd kind!', 'café') that no client can register or serve. A violation raises SQLSTATE 23514
-- with a message starting 'awa: ', like every other field check.
--
-- Also: an insertMany unique conflict names the clashing row (reserve_bulk_enqueue, copied from
-- 006 apart from its DETAIL and comment).

-- A name is ASCII letters, digits and _ . : -, not starting with . : or -. The pattern is
-- matched on characters, and it admits ASCII only, so characters and bytes agree.
CREATE FUNCTION awa.check_job_names(p_kind text, p_queue text)
RETURNS void LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  IF p_kind IS NULL OR length(p_kind) = 0 OR length(p_kind) > 200
     OR p_kind !~ '^[A-Za-z0-9_][A-Za-z0-9_.:-]*$' THEN
    RAISE EXCEPTION 'awa: invalid kind %: must be 1 to 200 characters of letters, digits, '
      '_ . : - (starting with a letter, digit or _)', coalesce(quote_literal(p_kind), 'NULL')
      USING ERRCODE = '23514';
  END IF;
  IF p_queue IS NULL OR length(p_queue) = 0 OR octet_length(p_queue) > 59
     OR p_queue !~ '^[A-Za-z0-9_][A-Za-z0-9_.:-]*$' THEN
    RAISE EXCEPTION 'awa: invalid queue %: must be 1 to 59 letters, digits, _ . : - (starting '
      'with a letter, digit or _; NOTIFY channel limit)', coalesce(quote_literal(p_queue), 'NULL')
      USING ERRCODE = '23514';
  END IF;
END
$$;

-- The name checks for a COPY batch: every distinct kind and queue of the batch.
CREATE FUNCTION awa.check_batch_names(p_kinds text[], p_queues text[])
RETURNS void LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
  v text;
BEGIN
  FOREACH v IN ARRAY coalesce(p_kinds, '{}') LOOP
    PERFORM awa.check_job_names(v, 'default');
  END LOOP;
  FOREACH v IN ARRAY coalesce(p_queues, '{}') LOOP
    PERFORM awa.check_job_names('kind', v);
  END LOOP;
END
$$;

CREATE OR REPLACE FUNCTION awa.check_job_fields(
  p_kind text, p_queue text, p_priority smallint, p_max_attempts smallint, p_tags text[],
  p_metadata jsonb, p_args jsonb
) RETURNS void LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  PERFORM awa.check_job_names(p_kind, p_queue);
  IF p_priority IS NULL OR p_priority NOT BETWEEN 1 AND 4 THEN
    RAISE EXCEPTION 'awa: invalid priority: must be 1 to 4' USING ERRCODE = '23514';
  END IF;
  IF p_max_attempts IS NULL OR p_max_attempts NOT BETWEEN 1 AND 1000 THEN
    RAISE EXCEPTION 'awa: invalid max_attempts: must be 1 to 1000' USING ERRCODE = '23514';
  END IF;
  IF cardinality(p_tags) > 20 THEN
    RAISE EXCEPTION 'awa: invalid tags: at most 20' USING ERRCODE = '23514';
  END IF;
  IF jsonb_typeof(p_metadata) IS DISTINCT FROM 'object' THEN
    RAISE EXCEPTION 'awa: invalid metadata: must be a JSON object' USING ERRCODE = '23514';
  END IF;
  IF p_args IS NULL THEN
    RAISE EXCEPTION 'awa: invalid args: must not be null' USING ERRCODE = '23514';
  END IF;
END
$$;

CREATE OR REPLACE FUNCTION awa.reserve_bulk_enqueue(p_groups jsonb, p_total int, p_unique jsonb,
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
  FROM (SELECT nextval('awa.job_id_seq') AS v FROM generate_series(1, p_total)) s;

  -- Unique claims: [{key: hex, index: n}]; indexes map into the id list.
  IF p_unique IS NOT NULL AND jsonb_array_length(p_unique) > 0 THEN
    WITH id_list AS (
      SELECT row_number() OVER (ORDER BY v) - 1 AS idx, v AS id
      FROM (SELECT generate_series(lower(r), upper(r) - 1) AS v FROM unnest(ids) r) x
    ), wanted AS (
      SELECT decode(u ->> 'key', 'hex') AS unique_key, (u ->> 'index')::bigint AS idx
      FROM jsonb_array_elements(p_unique) u
    ), ins AS (
      INSERT INTO awa.job_unique_claims (unique_key, job_id)
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
    shard := awa.lock_enqueue_lane(
      g ->> 'queue', (g ->> 'priority')::smallint, (g ->> 'key_hash')::numeric
    );
    lanes := lanes || jsonb_build_object(
      'group', g -> 'group', 'shard', shard, 'base', nextval('awa.lane_block_seq')::text
    );
  END LOOP;

  SELECT slot, generation INTO cursor_slot, cursor_gen FROM awa.ring_rotations
  WHERE ring = 'queue' ORDER BY generation DESC LIMIT 1;

  -- Notifications are delivered at commit, so announcing the rows before they are copied costs
  -- nothing and saves the producer a round trip.
  PERFORM pg_notify(awa.notify_channel(q), '')
  FROM (SELECT DISTINCT value ->> 'queue' AS q FROM jsonb_array_elements(p_groups)) g;

  RETURN jsonb_build_object(
    'ids', (SELECT jsonb_agg(jsonb_build_array(lower(r)::text, upper(r)::text)) FROM unnest(ids) r),
    'lanes', lanes, 'conflicts', conflicts, 'slot', cursor_slot,
    'generation', cursor_gen::text, 'now', clock_timestamp()
  );
END
$$;
