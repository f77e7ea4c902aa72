-- Enqueue: lane locks, shard choice, and the public SQL enqueue contract `awa.insert_job` (v1).

-- Lane positions are reserved in blocks: one nextval per reservation gives 65536 positions, so a
-- COPY batch of up to 65536 rows in one lane needs a single call. Positions only have to increase
-- within a lane; the lane's enqueue lock, held to commit, orders the reservations.
CREATE SEQUENCE awa.lane_block_seq INCREMENT BY 65536 MINVALUE 65536 START WITH 65536 CACHE 1;

-- Advisory-lock key for a lane. purpose 1 = enqueue lock, 2 = claim lock. The schema name is
-- part of the key so two Awa schemas in one database never share a lock.
CREATE FUNCTION awa.lane_key(p_queue text, p_priority smallint, p_shard smallint, p_purpose int)
RETURNS bigint LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT hashtextextended('awa.' || p_queue || '/' || p_priority || '/' || p_shard, p_purpose)
$$;

-- Algorithm H (features.md §9): multiply-then-add over the key bytes, mod 2^64.
CREATE FUNCTION awa.ordering_key_hash64(p_key bytea)
RETURNS numeric LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
  h numeric := 14695981039346656037;
  i int;
BEGIN
  FOR i IN 0 .. length(p_key) - 1 LOOP
    h := mod(h * 1099511628211 + get_byte(p_key, i), 18446744073709551616);
  END LOOP;
  RETURN h;
END
$$;

CREATE FUNCTION awa.queue_shards(p_queue text)
RETURNS smallint LANGUAGE plpgsql STABLE AS $$
BEGIN
  RETURN coalesce((SELECT enqueue_shards FROM awa.queue_meta WHERE queue = p_queue), 4::smallint);
END
$$;

-- Take the enqueue lock of one lane of (queue, priority) and return its shard.
-- Keyed inserts wait for their fixed shard (per-key FIFO needs it). Unkeyed inserts prefer a lane
-- this transaction already holds, then try every shard without waiting, starting at a
-- per-connection offset, and only wait when every shard is held by an open transaction.
CREATE FUNCTION awa.acquire_enqueue_shard(p_queue text, p_priority smallint, p_key_hash numeric)
RETURNS smallint LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  n smallint := awa.queue_shards(p_queue);
  held text := coalesce(current_setting('awa.held_lanes', true), '');
  start smallint;
  s smallint;
  k bigint;
  prev_timeout text;
BEGIN
  IF n <= 1 THEN
    PERFORM pg_advisory_xact_lock(awa.lane_key(p_queue, p_priority, 0::smallint, 1));
    RETURN 0;
  END IF;
  IF p_key_hash IS NOT NULL THEN
    s := mod(p_key_hash, n)::smallint;
    PERFORM pg_advisory_xact_lock(awa.lane_key(p_queue, p_priority, s, 1));
    RETURN s;
  END IF;
  FOR i IN 0 .. n - 1 LOOP
    k := awa.lane_key(p_queue, p_priority, i::smallint, 1);
    IF position(',' || k || ',' IN held) > 0 THEN
      RETURN i;
    END IF;
  END LOOP;
  start := mod(pg_backend_pid(), n)::smallint;
  FOR round IN 0 .. 20 LOOP
    FOR i IN 0 .. n - 1 LOOP
      s := mod(start + i, n)::smallint;
      k := awa.lane_key(p_queue, p_priority, s, 1);
      IF pg_try_advisory_xact_lock(k) THEN
        PERFORM set_config('awa.held_lanes', held || ',' || k || ',', true);
        RETURN s;
      END IF;
    END LOOP;
    -- Every shard is held by an open transaction. Queue on one shard for a few ms (the lock
    -- queue wakes us the moment it is released), then look at all of them again, rotating
    -- which shard we queue on so one long transaction cannot hold us.
    s := mod(start + round, n)::smallint;
    k := awa.lane_key(p_queue, p_priority, s, 1);
    prev_timeout := current_setting('lock_timeout');
    PERFORM set_config('lock_timeout', '20ms', true);
    BEGIN
      PERFORM pg_advisory_xact_lock(k);
      PERFORM set_config('lock_timeout', prev_timeout, true);
      PERFORM set_config('awa.held_lanes', held || ',' || k || ',', true);
      RETURN s;
    EXCEPTION WHEN lock_not_available THEN
      PERFORM set_config('lock_timeout', prev_timeout, true);
    END;
  END LOOP;
  -- Still nothing after ~400 ms: wait without a timeout, so Postgres can detect a deadlock.
  k := awa.lane_key(p_queue, p_priority, start, 1);
  PERFORM pg_advisory_xact_lock(k);
  PERFORM set_config('awa.held_lanes', held || ',' || k || ',', true);
  RETURN start;
END
$$;

-- Take the enqueue lock of a lane of (queue, priority), register the lane on first use, and
-- return its shard.
CREATE FUNCTION awa.lock_enqueue_lane(p_queue text, p_priority smallint, p_key_hash numeric)
RETURNS smallint LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  shard smallint := awa.acquire_enqueue_shard(p_queue, p_priority, p_key_hash);
BEGIN
  IF NOT EXISTS (
    SELECT 1 FROM awa.lanes
    WHERE queue = p_queue AND priority = p_priority AND enqueue_shard = shard
  ) THEN
    INSERT INTO awa.lanes (queue, priority, enqueue_shard) VALUES (p_queue, p_priority, shard)
    ON CONFLICT DO NOTHING;
  END IF;
  RETURN shard;
END
$$;

-- Bit `state` of a unique-state mask (leftmost bit = scheduled).
CREATE FUNCTION awa.mask_has(p_mask bit(8), p_state awa.job_state)
RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT p_mask IS NOT NULL
    AND get_bit(p_mask, array_position(enum_range(NULL::awa.job_state), p_state) - 1) = 1
$$;

CREATE FUNCTION awa.check_job_fields(
  p_kind text, p_queue text, p_priority smallint, p_max_attempts smallint, p_tags text[],
  p_metadata jsonb, p_args jsonb
) RETURNS void LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  IF p_kind IS NULL OR length(p_kind) = 0 OR length(p_kind) > 200 THEN
    RAISE EXCEPTION 'awa: invalid kind: must be 1 to 200 characters' USING ERRCODE = '23514';
  END IF;
  IF p_queue IS NULL OR length(p_queue) = 0 OR length(p_queue) > 200
     OR octet_length(p_queue) > 59 THEN
    RAISE EXCEPTION 'awa: invalid queue: must be 1 to 59 bytes (NOTIFY channel limit)'
      USING ERRCODE = '23514';
  END IF;
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

-- Append one job to the ready ring of its lane (used by insert_job, promotion, DLQ retry).
-- The caller has taken unique claims; this takes the lane lock and notifies.
CREATE FUNCTION awa.append_ready_job(
  p_job_id bigint, p_kind text, p_args jsonb, p_queue text, p_priority smallint,
  p_max_attempts smallint, p_attempt smallint, p_run_lease bigint, p_created_at timestamptz,
  p_tags text[], p_metadata jsonb, p_errors jsonb, p_progress jsonb, p_unique_key bytea,
  p_unique_states bit(8), p_ordering_key bytea
) RETURNS smallint LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  shard smallint := awa.lock_enqueue_lane(
    p_queue, p_priority, CASE WHEN p_ordering_key IS NOT NULL THEN awa.ordering_key_hash64(p_ordering_key) END
  );
BEGIN
  -- A fresh statement after the lock: the cursor and position are read after earlier producers
  -- of this lane have committed.
  INSERT INTO awa.ready_entries (
    ready_slot, generation, queue, priority, enqueue_shard, lane_seq, job_id, kind, args, attempt,
    run_lease, max_attempts, run_at, created_at, tags, metadata, errors, progress, unique_key,
    unique_states
  )
  SELECT c.slot, c.generation, p_queue, p_priority, shard, nextval('awa.lane_block_seq'),
    p_job_id, p_kind, p_args, p_attempt, p_run_lease, p_max_attempts, clock_timestamp(),
    p_created_at, p_tags, p_metadata, p_errors, p_progress, p_unique_key, p_unique_states
  FROM (
    SELECT slot, generation FROM awa.ring_rotations
    WHERE ring = 'queue' ORDER BY generation DESC LIMIT 1
  ) c;
  PERFORM pg_notify('awa:' || p_queue, '');
  RETURN shard;
END
$$;

------------------------------------------------------------------------------------------------
-- Public SQL enqueue contract, v1. One signature, no overloads; `p_opts` is the only extension
-- point. A breaking change needs a new function name. Documented in docs/sql-enqueue-contract.md.
------------------------------------------------------------------------------------------------
CREATE FUNCTION awa.insert_job(
  p_kind text,
  p_args jsonb DEFAULT '{}',
  p_queue text DEFAULT 'default',
  p_priority smallint DEFAULT 2,
  p_max_attempts smallint DEFAULT 25,
  p_run_at timestamptz DEFAULT NULL,
  p_metadata jsonb DEFAULT '{}',
  p_tags text[] DEFAULT '{}',
  p_unique_key bytea DEFAULT NULL,
  p_unique_states bit(8) DEFAULT NULL,
  p_ordering_key bytea DEFAULT NULL,
  p_opts jsonb DEFAULT '{}'
) RETURNS SETOF awa.inserted_job LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_args jsonb := coalesce(p_args, '{}');
  v_queue text := coalesce(p_queue, 'default');
  v_priority smallint := coalesce(p_priority, 2);
  v_max_attempts smallint := coalesce(p_max_attempts, 25);
  v_metadata jsonb := coalesce(p_metadata, '{}');
  v_tags text[] := coalesce(p_tags, '{}');
  v_opts jsonb := coalesce(p_opts, '{}');
  v_mask bit(8) := coalesce(p_unique_states, B'11111000');
  v_on_conflict text := 'error';
  v_now timestamptz := clock_timestamp();
  v_state awa.job_state;
  v_id bigint;
  v_shard smallint;
  v_key text;
BEGIN
  IF jsonb_typeof(v_opts) IS DISTINCT FROM 'object' THEN
    RAISE EXCEPTION 'awa: invalid opts: must be a JSON object' USING ERRCODE = '22023';
  END IF;
  FOR v_key IN SELECT jsonb_object_keys(v_opts) LOOP
    IF v_key <> 'on_conflict' THEN
      RAISE EXCEPTION 'awa: unknown opts key "%"', v_key USING ERRCODE = '22023';
    END IF;
  END LOOP;
  IF v_opts ? 'on_conflict' THEN
    IF jsonb_typeof(v_opts -> 'on_conflict') IS DISTINCT FROM 'string'
       OR v_opts ->> 'on_conflict' NOT IN ('error', 'skip') THEN
      RAISE EXCEPTION 'awa: invalid opts.on_conflict: must be "error" or "skip"'
        USING ERRCODE = '22023';
    END IF;
    v_on_conflict := v_opts ->> 'on_conflict';
  END IF;
  PERFORM awa.check_job_fields(p_kind, v_queue, v_priority, v_max_attempts, v_tags, v_metadata, v_args);
  IF p_unique_key IS NOT NULL AND octet_length(p_unique_key) <> 16 THEN
    RAISE EXCEPTION 'awa: invalid unique_key: must be 16 bytes' USING ERRCODE = '23514';
  END IF;

  v_state := CASE WHEN p_run_at IS NOT NULL AND p_run_at > v_now THEN 'scheduled'
                  ELSE 'available' END;
  v_id := nextval('awa.job_id_seq');

  -- Unique claims come before any lane lock (global lock order).
  IF p_unique_key IS NOT NULL AND awa.mask_has(v_mask, v_state) THEN
    IF v_on_conflict = 'skip' THEN
      INSERT INTO awa.job_unique_claims (unique_key, job_id) VALUES (p_unique_key, v_id)
      ON CONFLICT (unique_key) DO NOTHING;
      IF NOT FOUND THEN
        RETURN;
      END IF;
    ELSE
      INSERT INTO awa.job_unique_claims (unique_key, job_id) VALUES (p_unique_key, v_id);
    END IF;
  END IF;

  IF v_state = 'scheduled' THEN
    INSERT INTO awa.deferred_jobs (
      job_id, state, run_at, queue, priority, kind, args, attempt, run_lease, max_attempts,
      created_at, tags, metadata, unique_key, unique_states
    ) VALUES (
      v_id, 'scheduled', p_run_at, v_queue, v_priority, p_kind, v_args, 0, 0, v_max_attempts,
      v_now, v_tags, v_metadata, p_unique_key, CASE WHEN p_unique_key IS NOT NULL THEN v_mask END
    );
  ELSE
    v_shard := awa.append_ready_job(
      v_id, p_kind, v_args, v_queue, v_priority, v_max_attempts, 0::smallint, 0::bigint, v_now,
      v_tags, v_metadata, NULL, NULL, p_unique_key,
      CASE WHEN p_unique_key IS NOT NULL THEN v_mask END, p_ordering_key
    );
  END IF;

  RETURN QUERY SELECT v_id, p_kind, v_queue, v_state::text, v_priority, v_max_attempts,
    coalesce(p_run_at, v_now), v_now, p_unique_key, v_shard;
END
$$;

COMMENT ON FUNCTION awa.insert_job(text, jsonb, text, smallint, smallint, timestamptz, jsonb, text[], bytea, bit, bytea, jsonb)
  IS 'awa.insert_job v1 — public SQL enqueue contract; see docs/sql-enqueue-contract.md';

-- Bulk enqueue, step 1 of 2 (step 2 is a COPY into awa.ready_entries). For each lane group
-- {group, queue, priority, key_hash (Algorithm H as a decimal string, or null)} take the lane
-- lock and reserve one block of lane positions (at most 65536 rows per group)
-- positions; reserve job ids for all rows; take unique claims. Returns everything the client
-- needs to stream rows with explicit positions.
CREATE FUNCTION awa.reserve_bulk_enqueue(p_groups jsonb, p_total int, p_unique jsonb,
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
      RAISE EXCEPTION 'awa: % job(s) in the batch conflict with existing unique jobs',
        jsonb_array_length(conflicts)
        USING ERRCODE = '23505', CONSTRAINT = 'idx_awa_jobs_unique';
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
  PERFORM pg_notify('awa:' || q, '')
  FROM (SELECT DISTINCT value ->> 'queue' AS q FROM jsonb_array_elements(p_groups)) g;

  RETURN jsonb_build_object(
    'ids', (SELECT jsonb_agg(jsonb_build_array(lower(r)::text, upper(r)::text)) FROM unnest(ids) r),
    'lanes', lanes, 'conflicts', conflicts, 'slot', cursor_slot,
    'generation', cursor_gen::text, 'now', clock_timestamp()
  );
END
$$;
