-- Rescue and unique-claim lifecycle (issue 9, items 5, 6 and 16).
--
-- * A heartbeat rescue (the worker died) is not the job's fault: the attempt still counts, but
--   the job is due again at once instead of after a retry backoff. A deadline rescue (the
--   handler overran) keeps the backoff.
-- * Jobs a runtime claims ahead of its free workers (prefetch) are marked held at claim; the
--   runtime records each one's start before its handler runs. Rescue hands a held attempt that
--   never started back uncounted: attempt number restored, no error, no backoff.
-- * A unique claim is held only while the job's state is in its mask: a claim whose mask lacks
--   `running` is released at claim and re-acquired when the attempt ends in a state of the mask;
--   when another job took the key meanwhile, the ending job is cancelled instead.

-- Receipts at or above held_from were claimed ahead of free workers; NULL: every receipt of the
-- batch started at claim.
ALTER TABLE awa.claim_batches ADD COLUMN held_from int;

-- A row with started = true records that the listed receipts' handlers started (written by
-- awa.record_starts before a held attempt runs); it also counts as a heartbeat.
ALTER TABLE awa.attempt_heartbeats ADD COLUMN started boolean NOT NULL DEFAULT false;

-- Record the start of held attempts. p_receipts: [{claim_slot, receipt}] as for heartbeats.
CREATE FUNCTION awa.record_starts(p_instance uuid, p_receipts jsonb)
RETURNS void LANGUAGE sql VOLATILE AS $$
  INSERT INTO awa.attempt_heartbeats (claim_slot, instance_id, beat_at, receipt_ranges, started)
  SELECT (x ->> 'claim_slot')::smallint, p_instance, clock_timestamp(),
    range_agg(int8range((x ->> 'receipt')::bigint, (x ->> 'receipt')::bigint + 1)), true
  FROM jsonb_array_elements(p_receipts) x
  GROUP BY 1;
$$;

DROP FUNCTION awa.claim_batch(text, int, double precision, double precision, uuid);

-- Claim up to p_max jobs of one queue for one runtime. Returns one row per claimed job with its
-- receipt (claim_slot, batch_id, idx), started rows before held ones. Lanes are ranked on a
-- possibly stale view; the cursor and the rows are read in fresh statements after the lane's
-- claim lock is held. p_free: how many of the claimed jobs start at once (the runtime's free
-- workers); the rest are held (`held` true) until the runtime records their start. NULL: all
-- start at once.
CREATE FUNCTION awa.claim_batch(
  p_queue text, p_max int, p_deadline_s double precision, p_aging_s double precision,
  p_instance uuid, p_free int DEFAULT NULL
) RETURNS TABLE (
  claim_slot smallint, batch_id bigint, idx int, job_id bigint, run_lease bigint, attempt smallint,
  max_attempts smallint, kind text, args jsonb, priority smallint, created_at timestamptz,
  run_at timestamptz, tags text[], metadata jsonb, errors jsonb, progress jsonb,
  claimed_at timestamptz, deadline_at timestamptz, held boolean
) LANGUAGE plpgsql VOLATILE
SET plan_cache_mode = force_generic_plan SET jit = off SET enable_seqscan = off
SET enable_hashjoin = off SET enable_mergejoin = off
AS $$
DECLARE
  v_lane record;
  v_cursor bigint;
  v_remaining int := p_max;
  v_free int := CASE WHEN p_free IS NOT NULL THEN greatest(p_free, 0) END;
  v_now timestamptz := clock_timestamp();
  v_got int;
BEGIN
  IF p_max < 1 THEN
    RETURN;
  END IF;
  IF EXISTS (SELECT 1 FROM awa.queue_meta m WHERE m.queue = p_queue AND m.paused) THEN
    RETURN;
  END IF;

  FOR v_lane IN
    SELECT l.prio, l.shard
    FROM (
      SELECT ln.priority AS prio, ln.enqueue_shard AS shard FROM awa.lanes ln
      WHERE ln.queue = p_queue
    ) l
    -- The cursor once per lane; as an index condition it would be re-evaluated per partition.
    CROSS JOIN LATERAL (SELECT awa.lane_cursor(p_queue, l.prio, l.shard) AS c OFFSET 0) cur
    CROSS JOIN LATERAL (
      SELECT r.run_at FROM awa.ready_entries r
      WHERE r.queue = p_queue AND r.priority = l.prio AND r.enqueue_shard = l.shard
        AND r.lane_seq >= cur.c
        AND NOT EXISTS (
          SELECT 1 FROM awa.ready_tombstones t
          WHERE t.ready_slot = r.ready_slot AND t.queue = r.queue AND t.priority = r.priority
            AND t.enqueue_shard = r.enqueue_shard AND t.lane_seq = r.lane_seq
        )
      ORDER BY r.lane_seq LIMIT 1
    ) h
    ORDER BY
      CASE WHEN p_aging_s > 0
        THEN greatest(1, l.prio - floor(extract(epoch FROM v_now - h.run_at) / p_aging_s))
        ELSE l.prio END,
      h.run_at, l.prio
  LOOP
    EXIT WHEN v_remaining <= 0;
    CONTINUE WHEN NOT pg_try_advisory_xact_lock(awa.lane_key(p_queue, v_lane.prio, v_lane.shard, 2));

    v_cursor := awa.lane_cursor(p_queue, v_lane.prio, v_lane.shard);

    -- Take the slot of the lowest unclaimed row at or above the fresh cursor, and only the run of
    -- rows in that slot that precedes any row of another slot: the emission then covers exactly
    -- the rows it claims.
    RETURN QUERY
    WITH cand AS (
      SELECT r.ready_slot, r.lane_seq, r.job_id, r.run_lease, r.attempt, r.max_attempts, r.kind,
        r.args, r.created_at, r.run_at, r.tags, r.metadata, r.errors, r.progress, r.unique_key,
        r.unique_states
      FROM awa.ready_entries r
      WHERE r.queue = p_queue AND r.priority = v_lane.prio AND r.enqueue_shard = v_lane.shard
        AND r.lane_seq >= v_cursor
        AND NOT EXISTS (
          SELECT 1 FROM awa.ready_tombstones t
          WHERE t.ready_slot = r.ready_slot AND t.queue = r.queue AND t.priority = r.priority
            AND t.enqueue_shard = r.enqueue_shard AND t.lane_seq = r.lane_seq
        )
      ORDER BY r.lane_seq
      LIMIT v_remaining
    ), head AS MATERIALIZED (
      SELECT c.ready_slot FROM cand c ORDER BY c.lane_seq LIMIT 1
    ), cut AS MATERIALIZED (
      SELECT min(c.lane_seq) AS lane_seq FROM cand c, head
      WHERE c.ready_slot <> head.ready_slot
    ), picked AS MATERIALIZED (
      SELECT c.*, (row_number() OVER (ORDER BY c.lane_seq) - 1)::int AS i
      FROM cand c, head, cut
      WHERE c.ready_slot = head.ready_slot AND (cut.lane_seq IS NULL OR c.lane_seq < cut.lane_seq)
    ), ring AS MATERIALIZED (
      SELECT rr.slot, rr.generation FROM awa.ring_rotations rr
      WHERE rr.ring = 'claim' ORDER BY rr.generation DESC LIMIT 1
    ), batch AS (
      INSERT INTO awa.claim_batches AS b (
        claim_slot, generation, batch_id, instance_id, queue, priority, enqueue_shard, ready_slot,
        claimed_count, job_ids, run_leases, lane_seqs, attempts, claimed_at, deadline_at,
        has_unique, held_from
      )
      SELECT ring.slot, ring.generation, nextval('awa.claim_batch_id_seq'), p_instance, p_queue,
        v_lane.prio, v_lane.shard, min(p.ready_slot), count(*),
        array_agg(p.job_id ORDER BY p.i), array_agg(p.run_lease + 1 ORDER BY p.i),
        array_agg(p.lane_seq ORDER BY p.i), array_agg((p.attempt + 1)::smallint ORDER BY p.i),
        v_now,
        CASE WHEN p_deadline_s > 0 THEN v_now + make_interval(secs => p_deadline_s) END,
        bool_or(p.unique_key IS NOT NULL),
        CASE WHEN v_free < count(*) THEN v_free END
      FROM picked p, ring
      GROUP BY ring.slot, ring.generation
      RETURNING b.claim_slot, b.batch_id, b.ready_slot, b.deadline_at, b.held_from
    ), emitted AS (
      INSERT INTO awa.claim_emissions (
        ready_slot, queue, priority, enqueue_shard, first_lane_seq, next_lane_seq, claimed_count,
        claim_slot, batch_id
      )
      SELECT batch.ready_slot, p_queue, v_lane.prio, v_lane.shard, min(p.lane_seq),
        max(p.lane_seq) + 1, count(*), batch.claim_slot, batch.batch_id
      FROM picked p, batch
      GROUP BY batch.ready_slot, batch.claim_slot, batch.batch_id
    ), unique_released AS (
      -- available → running leaves a mask without `running`: the claim goes (features.md §2).
      -- Rows without a unique key never reach the index.
      DELETE FROM awa.job_unique_claims u USING picked p
      WHERE p.unique_key IS NOT NULL AND NOT awa.mask_has(p.unique_states, 'running')
        AND u.unique_key = p.unique_key AND u.job_id = p.job_id
    )
    SELECT batch.claim_slot, batch.batch_id, p.i, p.job_id, p.run_lease + 1,
      (p.attempt + 1)::smallint, p.max_attempts, p.kind, p.args, v_lane.prio, p.created_at,
      p.run_at, p.tags, p.metadata, p.errors, p.progress, v_now, batch.deadline_at,
      coalesce(p.i >= batch.held_from, false)
    FROM picked p, batch
    ORDER BY p.i;

    GET DIAGNOSTICS v_got = ROW_COUNT;
    v_remaining := v_remaining - v_got;
    IF v_free IS NOT NULL THEN
      v_free := greatest(v_free - v_got, 0);
    END IF;
  END LOOP;
END
$$;

-- Finalize attempts. p_items is a JSON array of
--   {claim_slot, batch_id, idx, job_id, run_lease, outcome, delay_s?, error?, result?, progress?}
-- with outcome one of completed | retry | fail | snooze | cancel, rescue_unstarted (a held
-- attempt that never started: handed back uncounted like a snooze, no error), or
-- rescue_<kind> (retry, after delay_s when given, else the backoff; recorded under that
-- closure outcome). An item applies only if its receipt is open at commit; the rest are stale
-- and absent from the result. p_try: take attempt locks with the try form and skip busy
-- attempts (rescue), instead of waiting (workers, admin).
--
-- Unique claims: an attempt whose mask lacks `running` released its claim at claim. Ending in
-- `retryable` or `scheduled` re-enters the mask when the mask has that state (the claim is
-- re-acquired now) or has `available` (promotion re-acquires it); if another job holds the key,
-- the job is cancelled instead: state cancelled, closure outcome `<outcome>_duplicate_cancelled`,
-- error `cancelled: duplicate: unique key held by job <id>`. Ending in a terminal state of the
-- mask re-acquires the claim when the key is free.
-- Returns one row per applied item with the state the job reached.
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
  ), planned AS MATERIALIZED (
    SELECT b.*,
      CASE
        WHEN b.outcome = 'completed' THEN 'completed'
        WHEN b.outcome = 'cancel' THEN 'cancelled'
        WHEN b.outcome IN ('snooze', 'rescue_unstarted') THEN 'scheduled'
        WHEN b.outcome = 'fail' THEN 'failed'
        WHEN b.b_attempt >= b.r_max_attempts THEN 'failed'
        ELSE 'retryable'
      END::awa.job_state AS plan_state,
      -- The claim was released at claim: whether this outcome brings the job back into its mask.
      b.unique_key IS NOT NULL AND NOT awa.mask_has(b.unique_states, 'running') AS reenters
    FROM body b
  ), rivals AS MATERIALIZED (
    -- Deferred outcomes re-entering the mask, whose key another job holds now. A scalar
    -- subquery: one index probe per such item, never a scan of the claims table.
    SELECT x.batch_id, x.idx, x.holder FROM (
      SELECT p.batch_id, p.idx, (
        SELECT u.job_id FROM awa.job_unique_claims u
        WHERE u.unique_key = p.unique_key AND u.job_id <> p.job_id
      ) AS holder
      FROM planned p
      WHERE p.reenters AND p.plan_state IN ('retryable', 'scheduled')
        AND (awa.mask_has(p.unique_states, p.plan_state)
          OR awa.mask_has(p.unique_states, 'available'))
    ) x
    WHERE x.holder IS NOT NULL
  ), reacquired AS (
    -- One job per key (the newest) re-acquires; sorted by key like every claims writer. A row a
    -- concurrent insert committed is left alone and that job counts as a rival.
    INSERT INTO awa.job_unique_claims AS u (unique_key, job_id)
    SELECT DISTINCT ON (p.unique_key) p.unique_key, p.job_id
    FROM planned p
    WHERE p.reenters AND awa.mask_has(p.unique_states, p.plan_state)
      AND NOT EXISTS (SELECT 1 FROM rivals x WHERE x.batch_id = p.batch_id AND x.idx = p.idx)
    ORDER BY p.unique_key, p.job_id DESC
    ON CONFLICT (unique_key) DO UPDATE SET job_id = excluded.job_id
      WHERE u.job_id = excluded.job_id
    RETURNING u.job_id
  ), decided AS (
    SELECT p.*,
      p.plan_state IN ('retryable', 'scheduled') AND p.reenters AND (
        x.holder IS NOT NULL
        OR (awa.mask_has(p.unique_states, p.plan_state)
          AND NOT EXISTS (SELECT 1 FROM reacquired a WHERE a.job_id = p.job_id))
      ) AS duplicate,
      x.holder
    FROM planned p
    LEFT JOIN rivals x ON x.batch_id = p.batch_id AND x.idx = p.idx
  ), resolved AS (
    SELECT d.*,
      CASE WHEN d.duplicate THEN 'cancelled' ELSE d.plan_state END::awa.job_state AS new_state,
      CASE WHEN d.duplicate THEN d.outcome || '_duplicate_cancelled' ELSE d.outcome END
        AS closure_outcome,
      CASE
        WHEN d.outcome = 'fail' THEN 'terminal_error'
        WHEN d.outcome IN ('retry') OR d.outcome LIKE 'rescue_%' THEN 'max_attempts_exhausted'
      END AS fail_reason,
      CASE
        WHEN d.duplicate THEN coalesce(d.old_errors, '[]'::jsonb) || jsonb_build_array(
          jsonb_build_object(
            'error', 'cancelled: duplicate: unique key held by job '
              || coalesce(d.holder::text, 'another job'),
            'attempt', d.b_attempt, 'at', clock_timestamp()))
        WHEN d.outcome IN ('completed', 'snooze', 'rescue_unstarted') THEN d.old_errors
        ELSE coalesce(d.old_errors, '[]'::jsonb) || jsonb_build_array(
          jsonb_strip_nulls(jsonb_build_object(
            'error', CASE WHEN d.outcome = 'cancel'
              THEN 'cancelled: ' || coalesce(d.error, '') ELSE coalesce(d.error, d.outcome) END,
            'attempt', d.b_attempt, 'at', clock_timestamp(),
            'terminal', CASE WHEN d.outcome = 'fail' THEN true END
          )))
      END AS new_errors
    FROM decided d
  ), closed AS (
    INSERT INTO awa.claim_closures (claim_slot, ready_slot, outcome, closed_count, receipt_ranges)
    SELECT r.claim_slot, r.ready_slot, r.closure_outcome, count(*),
      range_agg(int8range(r.receipt, r.receipt + 1))
    FROM resolved r
    GROUP BY r.claim_slot, r.ready_slot, r.closure_outcome
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
  SELECT r.job_id, r.run_lease, r.closure_outcome, r.new_state::text, h.hold_kind, d.run_at,
    r.b_queue, r.r_kind, r.b_attempt, r.r_max_attempts
  FROM resolved r
  LEFT JOIN deferred d ON d.job_id = r.job_id
  LEFT JOIN held h ON h.job_id = r.job_id
  WHERE (SELECT count(*) FROM cancel_notice) >= 0;
END
$$;

-- Open attempts that rescue should close. kind 'heartbeat': claimed before the cutoff and not
-- listed in a heartbeat at or after it; kind 'deadline': past the batch deadline.
-- A held attempt (claimed ahead, see claim_batch) with no recorded start never ran a handler:
-- it goes back uncounted (rescue_unstarted). A heartbeat rescue of a started attempt counts the
-- attempt but is due again at once (delay_s 0): the worker died, the job did nothing wrong. A
-- deadline rescue keeps the retry backoff: the handler itself overran.
CREATE OR REPLACE FUNCTION awa.rescue_candidates(p_kind text, p_staleness_s double precision,
  p_limit int)
RETURNS jsonb LANGUAGE sql STABLE AS $$
  SELECT coalesce(jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
    'claim_slot', c.claim_slot, 'batch_id', c.batch_id, 'idx', c.idx, 'job_id', c.job_id,
    'run_lease', c.run_lease,
    'outcome', CASE WHEN c.unstarted THEN 'rescue_unstarted' ELSE 'rescue_' || p_kind END,
    'delay_s', CASE WHEN c.unstarted OR p_kind = 'heartbeat' THEN 0 END,
    'error', CASE WHEN c.unstarted THEN NULL
      WHEN p_kind = 'heartbeat' THEN 'heartbeat stale: the worker stopped reporting'
      ELSE 'deadline exceeded' END
  ))), '[]')
  FROM (
    SELECT b.claim_slot, b.batch_id, (u.ord - 1)::int AS idx, u.job_id, u.run_lease,
      CASE WHEN u.ord - 1 >= b.held_from THEN NOT EXISTS (
        SELECT 1 FROM awa.attempt_heartbeats h
        WHERE h.claim_slot = b.claim_slot AND h.started
          AND h.receipt_ranges @> (b.batch_id * 65536 + u.ord - 1)
      ) ELSE false END AS unstarted
    FROM awa.claim_batches b
    CROSS JOIN LATERAL unnest(b.job_ids, b.run_leases) WITH ORDINALITY AS u(job_id, run_lease, ord)
    WHERE (
        (p_kind = 'heartbeat' AND b.claimed_at < clock_timestamp() - make_interval(secs => p_staleness_s))
        OR (p_kind = 'deadline' AND b.deadline_at < clock_timestamp())
      )
      AND NOT EXISTS (
        SELECT 1 FROM awa.claim_closures c
        WHERE c.claim_slot = b.claim_slot AND c.receipt_ranges @> (b.batch_id * 65536 + u.ord - 1)
      )
      AND NOT EXISTS (
        SELECT 1 FROM awa.attempt_state s
        WHERE s.job_id = u.job_id AND s.run_lease = u.run_lease AND s.state = 'waiting_external'
      )
      AND (p_kind <> 'heartbeat' OR NOT EXISTS (
        SELECT 1 FROM awa.attempt_heartbeats h
        WHERE h.claim_slot = b.claim_slot
          AND h.beat_at >= clock_timestamp() - make_interval(secs => p_staleness_s)
          AND h.receipt_ranges @> (b.batch_id * 65536 + u.ord - 1)
      ))
    ORDER BY b.claimed_at
    LIMIT p_limit
  ) c
$$;
