-- NOTIFY channels scoped to the schema. Until now every schema of a database shared the
-- channels awa:<queue> and awa:cancel, and job ids are per-schema sequences, so a cancel in one
-- schema could abort the attempt with the same id and lease in another.
--
-- awa.notify_channel(topic) names the channel of a topic: a queue name for wakeups, '@cancel'
-- for cancellations ('@' is outside the queue-name alphabet, so no queue can collide with it).
-- The default schema keeps awa:<topic>; another schema s uses s:<topic>, or awa~md5(s:<topic>)
-- when that would pass the 63-byte channel limit ('~' is in no schema or queue name). The
-- schema name is baked into the function when it is created, so it stays IMMUTABLE and costs
-- nothing per NOTIFY; src/runtime/channels.ts computes the same names.
DO $do$
DECLARE
  v_schema text := (SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.oid = 'awa.schema_version'::regclass);
BEGIN
  EXECUTE format($f$
    CREATE FUNCTION awa.notify_channel(p_topic text)
    RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $b$
      SELECT CASE
        WHEN %1$L = 'awa' THEN 'awa:' || p_topic
        WHEN octet_length(%1$L || ':' || p_topic) <= 63 THEN %1$L || ':' || p_topic
        ELSE 'awa~' || md5(%1$L || ':' || p_topic)
      END
    $b$$f$, v_schema);
END
$do$;

-- The functions below are unchanged apart from their pg_notify channel; the cancel notice
-- also names its outcome (cancel, rescue_heartbeat, rescue_deadline) so the worker can tell
-- its handler why the attempt ended.

CREATE OR REPLACE FUNCTION awa.append_ready_job(
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
  PERFORM pg_notify(awa.notify_channel(p_queue), '');
  RETURN shard;
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
  PERFORM pg_notify(awa.notify_channel(q), '')
  FROM (SELECT DISTINCT value ->> 'queue' AS q FROM jsonb_array_elements(p_groups)) g;

  RETURN jsonb_build_object(
    'ids', (SELECT jsonb_agg(jsonb_build_array(lower(r)::text, upper(r)::text)) FROM unnest(ids) r),
    'lanes', lanes, 'conflicts', conflicts, 'slot', cursor_slot,
    'generation', cursor_gen::text, 'now', clock_timestamp()
  );
END
$$;

CREATE OR REPLACE FUNCTION awa.finalize_attempts(p_items jsonb, p_try boolean DEFAULT false,
  p_dlq_default boolean DEFAULT false)
RETURNS TABLE (
  job_id bigint, run_lease bigint, outcome text, state text, held text, run_at timestamptz,
  queue text, kind text, attempt smallint, max_attempts smallint
) LANGUAGE plpgsql VOLATILE
SET plan_cache_mode = force_generic_plan SET jit = off
AS $$
DECLARE
  v_items jsonb := p_items;
  v_any_state boolean;
BEGIN
  -- Attempt locks first, sorted, so two finalizers can never wait on each other in a cycle.
  -- Rescue (p_try) skips busy attempts: only the items it could lock go on.
  IF p_try THEN
    SELECT coalesce(jsonb_agg(o.x), '[]') INTO v_items FROM (
      SELECT x FROM jsonb_array_elements(p_items) x
      ORDER BY (x ->> 'job_id')::bigint, (x ->> 'run_lease')::bigint
    ) o
    WHERE awa.attempt_try_lock((o.x ->> 'job_id')::bigint, (o.x ->> 'run_lease')::bigint);
  ELSE
    PERFORM awa.attempt_lock(k.job_id, k.run_lease) FROM (
      SELECT DISTINCT x.job_id, x.run_lease
      FROM jsonb_to_recordset(p_items) AS x(job_id bigint, run_lease bigint)
      ORDER BY x.job_id, x.run_lease
    ) k;
  END IF;

  -- Attempt state exists only for attempts that saved progress; when there is none at all,
  -- the per-item probes and deletes below are skipped by a one-time filter.
  v_any_state := EXISTS (SELECT 1 FROM awa.attempt_state);

  -- A fresh statement: closures committed by whoever held a lock before us are visible now.
  -- MATERIALIZED: the ready-row join below must see lane_seq as a plain value to use the
  -- lane-first primary key, not an expression over two relations.
  RETURN QUERY
  WITH items AS MATERIALIZED (
    SELECT DISTINCT ON (i.batch_id, i.idx) i.*
    FROM jsonb_to_recordset(v_items) AS i(
      claim_slot smallint, batch_id bigint, idx int, job_id bigint, run_lease bigint,
      outcome text, delay_s double precision, error text, result jsonb, progress jsonb
    )
    ORDER BY i.batch_id, i.idx
  ), receipts AS MATERIALIZED (
    -- Each batch's arrays are unnested once: subscripting them per item would detoast the
    -- whole (TOASTed, kilobytes-long) arrays once per item.
    SELECT b.claim_slot, b.batch_id, b.ready_slot, b.queue, b.priority, b.enqueue_shard,
      b.claimed_at, b.has_unique, u.job_id, u.run_lease, u.lane_seq, u.attempt, (u.n - 1)::int AS idx
    FROM (SELECT DISTINCT i.claim_slot, i.batch_id FROM items i) k
    JOIN awa.claim_batches b ON b.claim_slot = k.claim_slot AND b.batch_id = k.batch_id
    CROSS JOIN LATERAL unnest(b.job_ids, b.run_leases, b.lane_seqs, b.attempts)
      WITH ORDINALITY AS u(job_id, run_lease, lane_seq, attempt, n)
  ), batch_closures AS MATERIALIZED (
    -- Closures touching each batch's receipt block, fetched once per batch rather than probed
    -- once per item.
    SELECT c.claim_slot, c.receipt_ranges
    FROM (SELECT DISTINCT i.claim_slot, i.batch_id FROM items i) k
    JOIN awa.claim_closures c ON c.claim_slot = k.claim_slot
      AND c.receipt_ranges && int8range(k.batch_id * 65536, (k.batch_id + 1) * 65536)
  ), live AS MATERIALIZED (
    SELECT i.*, b.ready_slot, b.queue AS b_queue, b.priority AS b_priority,
      b.enqueue_shard, b.lane_seq, b.attempt AS b_attempt,
      b.claimed_at, i.batch_id * 65536 + i.idx AS receipt,
      i.outcome <> 'completed' OR b.has_unique AS needs_body
    FROM items i
    JOIN receipts b ON b.claim_slot = i.claim_slot AND b.batch_id = i.batch_id AND b.idx = i.idx
    WHERE b.job_id = i.job_id AND b.run_lease = i.run_lease
      AND NOT EXISTS (
        SELECT 1 FROM batch_closures c
        WHERE c.claim_slot = i.claim_slot AND c.receipt_ranges @> (i.batch_id * 65536 + i.idx)
      )
  ), body AS (
    SELECT l.*, r.kind AS r_kind, r.args, r.max_attempts AS r_max_attempts, r.created_at,
      r.tags, r.metadata, r.errors AS old_errors, r.unique_key, r.unique_states,
      coalesce(l.progress, s.progress, r.progress) AS new_progress,
      coalesce(m.dlq_enabled, p_dlq_default) AS dlq_enabled
    FROM live l
    -- The ready row (the job's body) is read only when the outcome needs it: a completion
    -- without a unique claim writes nothing from it. OFFSET 0 keeps the subquery from being
    -- flattened, so l.needs_body gates the probe instead of filtering after it.
    LEFT JOIN LATERAL (
      SELECT r.* FROM awa.ready_entries r
      WHERE l.needs_body AND r.ready_slot = l.ready_slot AND r.queue = l.b_queue
        AND r.priority = l.b_priority AND r.enqueue_shard = l.enqueue_shard
        AND r.lane_seq = l.lane_seq
      OFFSET 0
    ) r ON true
    LEFT JOIN awa.attempt_state s
      ON v_any_state AND s.job_id = l.job_id AND s.run_lease = l.run_lease
    LEFT JOIN awa.queue_meta m ON m.queue = l.b_queue
    WHERE r.job_id IS NOT NULL OR NOT l.needs_body
  ), resolved AS (
    SELECT b.*,
      CASE
        WHEN b.outcome = 'completed' THEN 'completed'
        WHEN b.outcome = 'cancel' THEN 'cancelled'
        WHEN b.outcome = 'snooze' THEN 'scheduled'
        WHEN b.outcome = 'fail' THEN 'failed'
        WHEN b.b_attempt >= b.r_max_attempts THEN 'failed'
        ELSE 'retryable'
      END::awa.job_state AS new_state,
      CASE
        WHEN b.outcome = 'fail' THEN 'terminal_error'
        WHEN b.outcome IN ('retry') OR b.outcome LIKE 'rescue_%' THEN 'max_attempts_exhausted'
      END AS fail_reason,
      CASE
        WHEN b.outcome IN ('completed', 'snooze') THEN b.old_errors
        ELSE coalesce(b.old_errors, '[]'::jsonb) || jsonb_build_array(
          jsonb_strip_nulls(jsonb_build_object(
            'error', CASE WHEN b.outcome = 'cancel'
              THEN 'cancelled: ' || coalesce(b.error, '') ELSE coalesce(b.error, b.outcome) END,
            'attempt', b.b_attempt, 'at', clock_timestamp(),
            'terminal', CASE WHEN b.outcome = 'fail' THEN true END
          )))
      END AS new_errors
    FROM body b
  ), closed AS (
    INSERT INTO awa.claim_closures (claim_slot, ready_slot, outcome, closed_count, receipt_ranges)
    SELECT r.claim_slot, r.ready_slot, r.outcome, count(*),
      range_agg(int8range(r.receipt, r.receipt + 1))
    FROM resolved r
    GROUP BY r.claim_slot, r.ready_slot, r.outcome
  ), done AS (
    INSERT INTO awa.done_entries (
      ready_slot, job_id, run_lease, queue, priority, state, attempt, attempted_at, finalized_at,
      result, errors, progress
    )
    SELECT r.ready_slot, r.job_id, r.run_lease, r.b_queue, r.b_priority, r.new_state, r.b_attempt,
      r.claimed_at, clock_timestamp(), r.result,
      CASE WHEN r.new_state = 'completed' THEN NULL ELSE r.new_errors END,
      CASE WHEN r.new_state = 'completed' THEN NULL ELSE r.new_progress END
    FROM resolved r WHERE r.new_state IN ('completed', 'cancelled')
  ), deferred AS (
    INSERT INTO awa.deferred_jobs (
      job_id, state, run_at, queue, priority, kind, args, attempt, run_lease, max_attempts,
      created_at, tags, metadata, errors, progress, unique_key, unique_states
    )
    SELECT r.job_id, r.new_state,
      clock_timestamp() + CASE
        WHEN r.delay_s IS NOT NULL THEN make_interval(secs => greatest(r.delay_s, 0))
        ELSE awa.backoff_duration(r.b_attempt, r.r_max_attempts) END,
      r.b_queue, r.b_priority, r.r_kind, r.args,
      CASE WHEN r.new_state = 'scheduled' THEN r.b_attempt - 1 ELSE r.b_attempt END,
      r.run_lease, r.r_max_attempts, r.created_at, r.tags, r.metadata, r.new_errors,
      r.new_progress, r.unique_key, r.unique_states
    FROM resolved r WHERE r.new_state IN ('retryable', 'scheduled')
    RETURNING deferred_jobs.job_id, deferred_jobs.run_at
  ), held AS (
    INSERT INTO awa.dlq_entries (
      job_id, hold_kind, reason, original_run_lease, queue, priority, kind, args, attempt,
      max_attempts, created_at, attempted_at, tags, metadata, errors, progress, unique_key,
      unique_states
    )
    SELECT r.job_id, CASE WHEN r.dlq_enabled THEN 'dlq' ELSE 'failed' END, r.fail_reason,
      r.run_lease, r.b_queue, r.b_priority, r.r_kind, r.args, r.b_attempt, r.r_max_attempts,
      r.created_at, r.claimed_at, r.tags, r.metadata, r.new_errors, r.new_progress, r.unique_key,
      r.unique_states
    FROM resolved r WHERE r.new_state = 'failed'
    RETURNING dlq_entries.job_id, dlq_entries.hold_kind
  ), state_gone AS (
    DELETE FROM awa.attempt_state s USING resolved r
    WHERE v_any_state AND s.job_id = r.job_id AND s.run_lease = r.run_lease
  ), unique_released AS (
    DELETE FROM awa.job_unique_claims u USING resolved r
    WHERE r.unique_key IS NOT NULL AND u.unique_key = r.unique_key AND u.job_id = r.job_id
      AND NOT awa.mask_has(r.unique_states, r.new_state)
  ), cancel_notice AS (
    SELECT pg_notify(awa.notify_channel('@cancel'), json_build_object('job_id', r.job_id,
      'run_lease', r.run_lease, 'outcome', r.outcome)::text)
    FROM resolved r WHERE r.outcome = 'cancel' OR r.outcome LIKE 'rescue_%'
  )
  SELECT r.job_id, r.run_lease, r.outcome, r.new_state::text, h.hold_kind, d.run_at, r.b_queue,
    r.r_kind, r.b_attempt, r.r_max_attempts
  FROM resolved r
  LEFT JOIN deferred d ON d.job_id = r.job_id
  LEFT JOIN held h ON h.job_id = r.job_id
  WHERE (SELECT count(*) FROM cancel_notice) >= 0;
END
$$;

CREATE OR REPLACE FUNCTION awa.promote_due(p_limit int DEFAULT 4096)
RETURNS int LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_rows awa.deferred_jobs[];
  v_group record;
  v_shard smallint;
  v_base bigint;
  v_total int := 0;
BEGIN
  WITH due AS (
    DELETE FROM awa.deferred_jobs d
    WHERE d.job_id IN (
      SELECT x.job_id FROM awa.deferred_jobs x
      WHERE x.run_at <= clock_timestamp()
        AND NOT EXISTS (SELECT 1 FROM awa.queue_meta m WHERE m.queue = x.queue AND m.paused)
      ORDER BY x.run_at, x.priority, x.job_id
      LIMIT p_limit
      FOR UPDATE SKIP LOCKED
    )
    RETURNING d.*
  )
  SELECT array_agg(due) INTO v_rows FROM due;
  IF v_rows IS NULL THEN
    RETURN 0;
  END IF;

  -- Unique claims whose mask covers `available` but not the deferred state are re-acquired here
  -- (before lane locks); a key taken meanwhile by another job leaves this one unclaimed.
  INSERT INTO awa.job_unique_claims (unique_key, job_id)
  SELECT r.unique_key, r.job_id FROM unnest(v_rows) r
  WHERE r.unique_key IS NOT NULL AND awa.mask_has(r.unique_states, 'available')
    AND NOT awa.mask_has(r.unique_states, r.state)
  ORDER BY r.unique_key
  ON CONFLICT (unique_key) DO NOTHING;

  FOR v_group IN
    SELECT r.queue, r.priority, count(*) AS n FROM unnest(v_rows) r
    GROUP BY r.queue, r.priority ORDER BY r.queue, r.priority
  LOOP
    v_shard := awa.lock_enqueue_lane(v_group.queue, v_group.priority, NULL);
    v_base := nextval('awa.lane_block_seq');
    INSERT INTO awa.ready_entries (
      ready_slot, generation, queue, priority, enqueue_shard, lane_seq, job_id, kind, args,
      attempt, run_lease, max_attempts, run_at, created_at, tags, metadata, errors, progress,
      unique_key, unique_states
    )
    SELECT c.slot, c.generation, r.queue, r.priority, v_shard,
      v_base + row_number() OVER (ORDER BY r.run_at, r.job_id) - 1, r.job_id, r.kind, r.args,
      r.attempt, r.run_lease, r.max_attempts, r.run_at, r.created_at, r.tags, r.metadata,
      r.errors, r.progress, r.unique_key, r.unique_states
    FROM unnest(v_rows) r, (
      SELECT rr.slot, rr.generation FROM awa.ring_rotations rr
      WHERE rr.ring = 'queue' ORDER BY rr.generation DESC LIMIT 1
    ) c
    WHERE r.queue = v_group.queue AND r.priority = v_group.priority;
    PERFORM pg_notify(awa.notify_channel(v_group.queue), '');
    v_total := v_total + v_group.n;
  END LOOP;
  RETURN v_total;
END
$$;
