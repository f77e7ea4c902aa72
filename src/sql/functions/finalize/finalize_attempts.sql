-- Finalize attempts. p_items is a JSON array of
--   {claim_slot, batch_id, idx, job_id, run_lease, outcome, state?, delay_s?, error?, result?,
--    progress?}
-- with outcome one of completed | retry | fail | snooze | cancel, rescue_unstarted (a held
-- attempt that never started: handed back uncounted like a snooze, no error), or
-- rescue_<kind> (a rescue, recorded under that closure outcome). `outcome` names the closure and
-- shapes the error entry; `state` is where the caller's policy sends the job (completed,
-- retryable, scheduled, cancelled or failed; the TypeScript runtime always sends it, see
-- src/runtime/policy.ts). An item without `state` is planned here by the same table: completed,
-- cancel -> cancelled, snooze and rescue_unstarted -> scheduled, fail -> failed, anything else
-- retryable, or failed once attempt >= max_attempts. A retryable or scheduled job is due after
-- delay_s, else after {{schema}}.backoff_duration. An item applies only if its receipt is open at
-- commit; the rest are stale and absent from the result. p_try: take attempt locks with the try
-- form and skip busy attempts (rescue), instead of waiting (workers, admin).
--
-- Decided here whatever the item says: failed goes to the DLQ when queue_meta (else
-- p_dlq_default) says so, and unique claims follow the mask. An attempt whose mask lacks
-- `running` released its claim at claim. Ending in `retryable` or `scheduled` re-enters the mask
-- when the mask has that state (the claim is re-acquired now) or has `available` (promotion
-- re-acquires it); if another job holds the key, the job is cancelled instead: state cancelled,
-- closure outcome `<outcome>_duplicate_cancelled`, error
-- `cancelled: duplicate: unique key held by job <id>`. Ending in a terminal state of the mask
-- re-acquires the claim when the key is free.
-- Returns one row per applied item with the state the job reached.
-- Callback outcomes ({{schema}}.resolve_callback, expire_callbacks): callback_fail fails like
-- fail (terminal); rescue_callback, a timed-out callback, is held with reason callback_timeout.
CREATE OR REPLACE FUNCTION {{schema}}.finalize_attempts(p_items jsonb, p_try boolean DEFAULT false,
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
  v_any_keyed boolean;
  v_any_flow boolean;
BEGIN
  -- Attempt locks first, sorted, so two finalizers can never wait on each other in a cycle.
  -- Rescue (p_try) skips busy attempts: only the items it could lock go on.
  IF p_try THEN
    SELECT coalesce(jsonb_agg(o.x), '[]') INTO v_items FROM (
      SELECT x FROM jsonb_array_elements(p_items) x
      ORDER BY (x ->> 'job_id')::bigint, (x ->> 'run_lease')::bigint
    ) o
    WHERE {{schema}}.attempt_try_lock((o.x ->> 'job_id')::bigint, (o.x ->> 'run_lease')::bigint);
  ELSE
    PERFORM {{schema}}.attempt_lock(k.job_id, k.run_lease) FROM (
      SELECT DISTINCT x.job_id, x.run_lease
      FROM jsonb_to_recordset(p_items) AS x(job_id bigint, run_lease bigint)
      ORDER BY x.job_id, x.run_lease
    ) k;
  END IF;

  -- Attempt state exists only for attempts that saved progress; when there is none at all,
  -- the per-item probes and deletes below are skipped by a one-time filter.
  v_any_state := EXISTS (SELECT 1 FROM {{schema}}.attempt_state);
  -- Likewise admitted keyed jobs: without any, no terminal job can free a key slot.
  v_any_keyed := EXISTS (SELECT 1 FROM {{schema}}.key_admissions);
  -- Likewise for flow nodes (follow-ups, flows, batches): the hook runs only when some exist.
  v_any_flow := EXISTS (SELECT 1 FROM {{schema}}.flow_nodes n WHERE n.state = 'released');

  -- Plain completions (every worker flush of a healthy queue) take a shorter statement: it
  -- writes what the general one writes for them, a closure and a done row per attempt, but
  -- plans no body read, unique, retry, DLQ or flow steps, whose relations a generic plan would
  -- lock and set up on every call. A batch that took unique claims goes the general way.
  IF NOT p_try AND NOT v_any_state AND NOT v_any_keyed AND NOT v_any_flow
    AND NOT EXISTS (
      SELECT 1 FROM jsonb_array_elements(v_items) x
      WHERE x ->> 'outcome' IS DISTINCT FROM 'completed'
        OR coalesce(x ->> 'state', 'completed') <> 'completed'
    )
    AND NOT EXISTS (
      SELECT 1 FROM (
        SELECT DISTINCT x.claim_slot, x.batch_id
        FROM jsonb_to_recordset(v_items) AS x(claim_slot smallint, batch_id bigint)
      ) k
      JOIN {{schema}}.claim_batches b ON b.batch_id = k.batch_id AND b.claim_slot = k.claim_slot
      WHERE b.has_unique
    )
  THEN
    RETURN QUERY
    WITH items AS MATERIALIZED (
      SELECT DISTINCT ON (i.batch_id, i.idx) i.*
      FROM jsonb_to_recordset(v_items) AS i(
        claim_slot smallint, batch_id bigint, idx int, job_id bigint, run_lease bigint,
        result jsonb
      )
      ORDER BY i.batch_id, i.idx
    ), batches AS MATERIALIZED (
      -- One row per batch, probed by key (OFFSET 0 keeps each probe a parameterized index
      -- scan). The arrays are copied out once: a TOASTed array would be detoasted again by
      -- each subscript. `closed` is the batch's closed receipts as one multirange.
      SELECT b.*
      FROM (SELECT DISTINCT i.claim_slot, i.batch_id FROM items i) k
      CROSS JOIN LATERAL (
        SELECT b.claim_slot, b.batch_id, b.ready_slot, b.queue, b.priority, b.claimed_at,
          b.job_ids || '{}'::bigint[] AS job_ids, b.run_leases || '{}'::bigint[] AS run_leases,
          b.attempts || '{}'::smallint[] AS attempts,
          (SELECT range_agg(c.receipt_ranges) FROM {{schema}}.claim_closures c
            WHERE c.claim_slot = b.claim_slot
              AND c.receipt_ranges && {{schema}}.receipt_block(b.batch_id)) AS closed
        FROM {{schema}}.claim_batches b
        WHERE b.claim_slot = k.claim_slot AND b.batch_id = k.batch_id
        OFFSET 0
      ) b
    ), live AS MATERIALIZED (
      SELECT i.claim_slot, i.job_id, i.run_lease, i.result, b.ready_slot, b.queue, b.priority,
        b.attempts[i.idx + 1] AS attempt, b.claimed_at,
        {{schema}}.receipt_id(i.batch_id, i.idx) AS receipt
      FROM items i
      JOIN batches b ON b.claim_slot = i.claim_slot AND b.batch_id = i.batch_id
      WHERE b.job_ids[i.idx + 1] = i.job_id AND b.run_leases[i.idx + 1] = i.run_lease
        AND NOT coalesce(b.closed @> {{schema}}.receipt_id(i.batch_id, i.idx), false)
    ), closed AS (
      INSERT INTO {{schema}}.claim_closures (claim_slot, ready_slot, outcome, closed_count,
        receipt_ranges)
      SELECT l.claim_slot, l.ready_slot, 'completed', count(*),
        range_agg(int8range(l.receipt, l.receipt + 1))
      FROM live l
      GROUP BY l.claim_slot, l.ready_slot
    ), done AS (
      INSERT INTO {{schema}}.done_entries (
        ready_slot, job_id, run_lease, queue, priority, state, attempt, attempted_at, finalized_at,
        result
      )
      SELECT l.ready_slot, l.job_id, l.run_lease, l.queue, l.priority, 'completed', l.attempt,
        l.claimed_at, clock_timestamp(), l.result
      FROM live l
    ), waiter_notice AS (
      SELECT {{schema}}.notify_waiters(array_agg(l.job_id)) AS sent FROM live l
    )
    SELECT l.job_id, l.run_lease, 'completed'::text, 'completed'::text, NULL::text,
      NULL::timestamptz, l.queue, NULL::text, l.attempt, NULL::smallint
    FROM live l
    WHERE (SELECT count(*) FROM waiter_notice) >= 0;
    RETURN;
  END IF;

  -- A fresh statement: closures committed by whoever held a lock before us are visible now.
  -- MATERIALIZED: the ready-row join below must see lane_seq as a plain value to use the
  -- lane-first primary key, not an expression over two relations.
  RETURN QUERY
  WITH items AS MATERIALIZED (
    SELECT DISTINCT ON (i.batch_id, i.idx) i.*
    FROM jsonb_to_recordset(v_items) AS i(
      claim_slot smallint, batch_id bigint, idx int, job_id bigint, run_lease bigint,
      outcome text, state {{schema}}.finalize_state, delay_s double precision, error text,
      result jsonb, progress jsonb
    )
    ORDER BY i.batch_id, i.idx
  ), receipts AS MATERIALIZED (
    -- Each batch's arrays are unnested once: subscripting them per item would detoast the
    -- whole (TOASTed, kilobytes-long) arrays once per item.
    SELECT b.claim_slot, b.batch_id, b.ready_slot, b.queue, b.priority, b.enqueue_shard,
      b.claimed_at, b.instance_id, b.has_unique, u.job_id, u.run_lease, u.lane_seq, u.attempt,
      (u.n - 1)::int AS idx
    FROM (SELECT DISTINCT i.claim_slot, i.batch_id FROM items i) k
    JOIN {{schema}}.claim_batches b ON b.claim_slot = k.claim_slot AND b.batch_id = k.batch_id
    CROSS JOIN LATERAL unnest(b.job_ids, b.run_leases, b.lane_seqs, b.attempts)
      WITH ORDINALITY AS u(job_id, run_lease, lane_seq, attempt, n)
  ), batch_closures AS MATERIALIZED (
    -- Closures touching each batch's receipt block, fetched once per batch rather than probed
    -- once per item.
    SELECT c.claim_slot, c.receipt_ranges
    FROM (SELECT DISTINCT i.claim_slot, i.batch_id FROM items i) k
    JOIN {{schema}}.claim_closures c ON c.claim_slot = k.claim_slot
      AND c.receipt_ranges && {{schema}}.receipt_block(k.batch_id)
  ), live AS MATERIALIZED (
    SELECT i.*, b.ready_slot, b.queue AS b_queue, b.priority AS b_priority,
      b.enqueue_shard, b.lane_seq, b.attempt AS b_attempt,
      b.claimed_at, b.instance_id, {{schema}}.receipt_id(i.batch_id, i.idx) AS receipt,
      i.outcome <> 'completed' OR b.has_unique AS needs_body
    FROM items i
    JOIN receipts b ON b.claim_slot = i.claim_slot AND b.batch_id = i.batch_id AND b.idx = i.idx
    WHERE b.job_id = i.job_id AND b.run_lease = i.run_lease
      AND NOT EXISTS (
        SELECT 1 FROM batch_closures c
        WHERE c.claim_slot = i.claim_slot AND c.receipt_ranges @> {{schema}}.receipt_id(i.batch_id, i.idx)
      )
      -- Rescue chose its candidates before taking their locks: an attempt parked on a callback
      -- since then belongs to the callback (its resolution or timeout), not to rescue.
      AND NOT (i.outcome IN ('rescue_heartbeat', 'rescue_deadline', 'rescue_unstarted')
        AND v_any_state AND EXISTS (
          SELECT 1 FROM {{schema}}.attempt_state s
          WHERE s.job_id = i.job_id AND s.run_lease = i.run_lease AND s.state = 'waiting_external'
        ))
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
      SELECT r.* FROM {{schema}}.ready_entries r
      WHERE l.needs_body AND r.ready_slot = l.ready_slot AND r.queue = l.b_queue
        AND r.priority = l.b_priority AND r.enqueue_shard = l.enqueue_shard
        AND r.lane_seq = l.lane_seq
      OFFSET 0
    ) r ON true
    LEFT JOIN {{schema}}.attempt_state s
      ON v_any_state AND s.job_id = l.job_id AND s.run_lease = l.run_lease
    LEFT JOIN {{schema}}.queue_meta m ON m.queue = l.b_queue
    WHERE r.job_id IS NOT NULL OR NOT l.needs_body
  ), planned AS MATERIALIZED (
    SELECT b.*,
      coalesce(b.state::{{schema}}.job_state, CASE
        WHEN b.outcome = 'completed' THEN 'completed'
        WHEN b.outcome = 'cancel' THEN 'cancelled'
        WHEN b.outcome IN ('snooze', 'rescue_unstarted') THEN 'scheduled'
        WHEN b.outcome = 'fail' THEN 'failed'
        WHEN b.b_attempt >= b.r_max_attempts THEN 'failed'
        ELSE 'retryable'
      END::{{schema}}.job_state) AS plan_state,
      -- The claim was released at claim: whether this outcome brings the job back into its mask.
      b.unique_key IS NOT NULL AND NOT {{schema}}.mask_has(b.unique_states, 'running') AS reenters
    FROM body b
  ), rivals AS MATERIALIZED (
    -- Deferred outcomes re-entering the mask, whose key another job holds now. A scalar
    -- subquery: one index probe per such item, never a scan of the claims table.
    SELECT x.batch_id, x.idx, x.holder FROM (
      SELECT p.batch_id, p.idx, (
        SELECT u.job_id FROM {{schema}}.job_unique_claims u
        WHERE u.unique_key = p.unique_key AND u.job_id <> p.job_id
      ) AS holder
      FROM planned p
      WHERE p.reenters AND p.plan_state IN ('retryable', 'scheduled')
        AND ({{schema}}.mask_has(p.unique_states, p.plan_state)
          OR {{schema}}.mask_has(p.unique_states, 'available'))
    ) x
    WHERE x.holder IS NOT NULL
  ), reacquired AS (
    -- One job per key (the newest) re-acquires; sorted by key like every claims writer. A row a
    -- concurrent insert committed is left alone and that job counts as a rival.
    INSERT INTO {{schema}}.job_unique_claims AS u (unique_key, job_id)
    SELECT DISTINCT ON (p.unique_key) p.unique_key, p.job_id
    FROM planned p
    WHERE p.reenters AND {{schema}}.mask_has(p.unique_states, p.plan_state)
      AND NOT EXISTS (SELECT 1 FROM rivals x WHERE x.batch_id = p.batch_id AND x.idx = p.idx)
    ORDER BY p.unique_key, p.job_id DESC
    ON CONFLICT (unique_key) DO UPDATE SET job_id = excluded.job_id
      WHERE u.job_id = excluded.job_id
    RETURNING u.job_id
  ), decided AS (
    SELECT p.*,
      p.plan_state IN ('retryable', 'scheduled') AND p.reenters AND (
        x.holder IS NOT NULL
        OR ({{schema}}.mask_has(p.unique_states, p.plan_state)
          AND NOT EXISTS (SELECT 1 FROM reacquired a WHERE a.job_id = p.job_id))
      ) AS duplicate,
      x.holder
    FROM planned p
    LEFT JOIN rivals x ON x.batch_id = p.batch_id AND x.idx = p.idx
  ), resolved AS (
    SELECT d.*,
      CASE WHEN d.duplicate THEN 'cancelled' ELSE d.plan_state END::{{schema}}.job_state AS new_state,
      CASE WHEN d.duplicate THEN d.outcome || '_duplicate_cancelled' ELSE d.outcome END
        AS closure_outcome,
      CASE
        WHEN d.outcome IN ('fail', 'callback_fail') THEN 'terminal_error'
        WHEN d.outcome = 'rescue_callback' THEN 'callback_timeout'
        WHEN d.outcome IN ('retry', 'callback_cancel') OR d.outcome LIKE 'rescue_%'
          THEN 'max_attempts_exhausted'
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
            'started_at', d.claimed_at, 'instance_id', d.instance_id,
            'terminal', CASE WHEN d.outcome IN ('fail', 'callback_fail') THEN true END
          )))
      END AS new_errors
    FROM decided d
  ), closed AS (
    INSERT INTO {{schema}}.claim_closures (claim_slot, ready_slot, outcome, closed_count, receipt_ranges)
    SELECT r.claim_slot, r.ready_slot, r.closure_outcome, count(*),
      range_agg(int8range(r.receipt, r.receipt + 1))
    FROM resolved r
    GROUP BY r.claim_slot, r.ready_slot, r.closure_outcome
  ), done AS (
    INSERT INTO {{schema}}.done_entries (
      ready_slot, job_id, run_lease, queue, priority, state, attempt, attempted_at, finalized_at,
      result, errors, progress
    )
    SELECT r.ready_slot, r.job_id, r.run_lease, r.b_queue, r.b_priority, r.new_state, r.b_attempt,
      r.claimed_at, clock_timestamp(), r.result,
      CASE WHEN r.new_state = 'completed' THEN NULL ELSE r.new_errors END,
      CASE WHEN r.new_state = 'completed' THEN NULL ELSE r.new_progress END
    FROM resolved r WHERE r.new_state IN ('completed', 'cancelled')
  ), deferred AS (
    INSERT INTO {{schema}}.deferred_jobs (
      job_id, state, run_at, queue, priority, kind, args, attempt, run_lease, max_attempts,
      created_at, tags, metadata, errors, progress, unique_key, unique_states
    )
    SELECT r.job_id, r.new_state,
      clock_timestamp() + CASE
        WHEN r.delay_s IS NOT NULL THEN make_interval(secs => greatest(r.delay_s, 0))
        ELSE {{schema}}.backoff_duration(r.b_attempt, r.r_max_attempts) END,
      r.b_queue, r.b_priority, r.r_kind, r.args,
      CASE WHEN r.new_state = 'scheduled' THEN r.b_attempt - 1 ELSE r.b_attempt END,
      r.run_lease, r.r_max_attempts, r.created_at, r.tags, r.metadata, r.new_errors,
      r.new_progress, r.unique_key, r.unique_states
    FROM resolved r WHERE r.new_state IN ('retryable', 'scheduled')
    RETURNING deferred_jobs.job_id, deferred_jobs.run_at
  ), held AS (
    INSERT INTO {{schema}}.dlq_entries (
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
    DELETE FROM {{schema}}.attempt_state s USING resolved r
    WHERE v_any_state AND s.job_id = r.job_id AND s.run_lease = r.run_lease
  ), unique_released AS (
    DELETE FROM {{schema}}.job_unique_claims u USING resolved r
    WHERE r.unique_key IS NOT NULL AND u.unique_key = r.unique_key AND u.job_id = r.job_id
      AND NOT {{schema}}.mask_has(r.unique_states, r.new_state)
  ), cancel_notice AS (
    SELECT pg_notify({{schema}}.notify_channel('@cancel'), json_build_object('job_id', r.job_id,
      'run_lease', r.run_lease, 'outcome', r.outcome)::text)
    FROM resolved r WHERE r.outcome = 'cancel' OR r.outcome LIKE 'rescue_%'
  ), keys_freed AS (
    -- A terminal job frees its concurrency-key slot and admits the key's next job; a retrying
    -- or snoozed one keeps it (docs/concurrency-keys.md).
    SELECT CASE WHEN v_any_keyed THEN {{schema}}.key_release(array_agg(r.job_id)) END AS n
    FROM resolved r WHERE r.new_state IN ('completed', 'cancelled', 'failed')
  ), waiter_notice AS (
    -- insertAndWait / waitForJob: wake the waiters of the jobs this statement ended.
    SELECT {{schema}}.notify_waiters(array_agg(r.job_id)) AS sent
    FROM resolved r WHERE r.new_state IN ('completed', 'cancelled', 'failed')
  ), flow_finished AS (
    -- Dependents and follow-ups of jobs that ended for good, in this transaction.
    SELECT {{schema}}.flow_job_finished(jsonb_agg(jsonb_build_object('job_id', r.job_id,
      'state', r.new_state, 'result', r.result)), (SELECT array_agg(i.job_id) FROM items i))
    FROM resolved r WHERE v_any_flow AND r.new_state IN ('completed', 'failed', 'cancelled')
  )
  SELECT r.job_id, r.run_lease, r.closure_outcome, r.new_state::text, h.hold_kind, d.run_at,
    r.b_queue, r.r_kind, r.b_attempt, r.r_max_attempts
  FROM resolved r
  LEFT JOIN deferred d ON d.job_id = r.job_id
  LEFT JOIN held h ON h.job_id = r.job_id
  WHERE (SELECT count(*) FROM cancel_notice) >= 0 AND (SELECT count(*) FROM keys_freed) >= 0
    AND (SELECT count(*) FROM waiter_notice) >= 0 AND (SELECT count(*) FROM flow_finished) >= 0;
END
$$;
