-- Open attempts that rescue should close. kind 'heartbeat': claimed before the cutoff and not
-- listed in a heartbeat at or after it; kind 'deadline': past the batch deadline.
-- A held attempt (claimed ahead, see claim_batch) with no recorded start never ran a handler:
-- it goes back uncounted (rescue_unstarted). A heartbeat rescue of a started attempt counts the
-- attempt but is due again at once (delay_s 0): the worker died, the job did nothing wrong. A
-- deadline rescue keeps the retry backoff: the handler itself overran.
CREATE OR REPLACE FUNCTION {{schema}}.rescue_candidates(p_kind text, p_staleness_s double precision,
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
        SELECT 1 FROM {{schema}}.attempt_heartbeats h
        WHERE h.claim_slot = b.claim_slot AND h.started
          AND h.receipt_ranges @> {{schema}}.receipt_id(b.batch_id, (u.ord - 1)::int)
      ) ELSE false END AS unstarted
    FROM {{schema}}.claim_batches b
    CROSS JOIN LATERAL unnest(b.job_ids, b.run_leases) WITH ORDINALITY AS u(job_id, run_lease, ord)
    WHERE (
        (p_kind = 'heartbeat' AND b.claimed_at < clock_timestamp() - make_interval(secs => p_staleness_s))
        OR (p_kind = 'deadline' AND b.deadline_at < clock_timestamp())
      )
      AND NOT EXISTS (
        SELECT 1 FROM {{schema}}.claim_closures c
        WHERE c.claim_slot = b.claim_slot AND c.receipt_ranges @> {{schema}}.receipt_id(b.batch_id, (u.ord - 1)::int)
      )
      AND NOT EXISTS (
        SELECT 1 FROM {{schema}}.attempt_state s
        WHERE s.job_id = u.job_id AND s.run_lease = u.run_lease AND s.state = 'waiting_external'
      )
      AND (p_kind <> 'heartbeat' OR NOT EXISTS (
        SELECT 1 FROM {{schema}}.attempt_heartbeats h
        WHERE h.claim_slot = b.claim_slot
          AND h.beat_at >= clock_timestamp() - make_interval(secs => p_staleness_s)
          AND h.receipt_ranges @> {{schema}}.receipt_id(b.batch_id, (u.ord - 1)::int)
      ))
    ORDER BY b.claimed_at
    LIMIT p_limit
  ) c
$$;
