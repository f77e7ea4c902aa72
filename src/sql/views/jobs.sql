-- Every job in every plane, for operators. Not a hot path: it joins across the rings.
CREATE OR REPLACE VIEW {{schema}}.jobs AS
SELECT r.job_id AS id, r.kind, r.queue, r.args, 'available'::{{schema}}.job_state AS state, r.priority,
  r.attempt, r.max_attempts, r.run_at, r.created_at, NULL::timestamptz AS attempted_at,
  NULL::timestamptz AS finalized_at, r.tags, r.metadata, r.errors, r.progress, r.run_lease,
  r.unique_key, NULL::text AS held, NULL::jsonb AS result
FROM {{schema}}.ready_entries r
WHERE NOT EXISTS (
    SELECT 1 FROM {{schema}}.ready_tombstones t
    WHERE t.ready_slot = r.ready_slot AND t.queue = r.queue AND t.priority = r.priority
      AND t.enqueue_shard = r.enqueue_shard AND t.lane_seq = r.lane_seq)
  AND NOT EXISTS (
    SELECT 1 FROM {{schema}}.claim_emissions e
    WHERE e.queue = r.queue AND e.priority = r.priority AND e.enqueue_shard = r.enqueue_shard
      AND r.lane_seq >= e.first_lane_seq AND r.lane_seq < e.next_lane_seq)
UNION ALL
SELECT r.job_id, r.kind, r.queue, r.args, coalesce(s.state, 'running'), r.priority, u.attempt,
  r.max_attempts, r.run_at, r.created_at, b.claimed_at, NULL, r.tags, r.metadata, r.errors,
  coalesce(s.progress, r.progress), u.run_lease, r.unique_key, NULL, NULL
FROM {{schema}}.claim_batches b
CROSS JOIN LATERAL unnest(b.job_ids, b.run_leases, b.lane_seqs, b.attempts)
  WITH ORDINALITY AS u(job_id, run_lease, lane_seq, attempt, ord)
JOIN {{schema}}.ready_entries r
  ON r.ready_slot = b.ready_slot AND r.queue = b.queue AND r.priority = b.priority
  AND r.enqueue_shard = b.enqueue_shard AND r.lane_seq = u.lane_seq
LEFT JOIN {{schema}}.attempt_state s ON s.job_id = u.job_id AND s.run_lease = u.run_lease
WHERE NOT EXISTS (
  SELECT 1 FROM {{schema}}.claim_closures c
  WHERE c.claim_slot = b.claim_slot AND c.receipt_ranges @> {{schema}}.receipt_id(b.batch_id, (u.ord - 1)::int))
UNION ALL
SELECT d.job_id, d.kind, d.queue, d.args, d.state, d.priority, d.attempt, d.max_attempts,
  d.run_at, d.created_at, NULL, NULL, d.tags, d.metadata, d.errors, d.progress, d.run_lease,
  d.unique_key, NULL, NULL
FROM {{schema}}.deferred_jobs d
UNION ALL
SELECT * FROM (
  -- The body is the newest ready row of the job at run_lease - 1 in the terminal row's slot: a
  -- DLQ retry starts a job again at run_lease 0, so an older row with the same job and lease can
  -- sit in the same slot, and a terminal row always belongs to the newest.
  SELECT DISTINCT ON (t.ready_slot, t.job_id, t.run_lease)
    t.job_id, coalesce(r.kind, t.body ->> 'kind'), t.queue, coalesce(r.args, t.body -> 'args'),
    t.state, t.priority, t.attempt, coalesce(r.max_attempts, (t.body ->> 'max_attempts')::smallint),
    coalesce(r.run_at, (t.body ->> 'run_at')::timestamptz),
    coalesce(r.created_at, (t.body ->> 'created_at')::timestamptz), t.attempted_at, t.finalized_at,
    coalesce(r.tags, ARRAY(SELECT jsonb_array_elements_text(t.body -> 'tags'))),
    coalesce(r.metadata, t.body -> 'metadata'), coalesce(t.errors, r.errors), t.progress,
    t.run_lease, r.unique_key, NULL, t.result
  FROM {{schema}}.done_entries t
  LEFT JOIN {{schema}}.ready_entries r
    ON r.ready_slot = t.ready_slot AND r.job_id = t.job_id AND r.run_lease = t.run_lease - 1
  ORDER BY t.ready_slot, t.job_id, t.run_lease, r.lane_seq DESC NULLS LAST
) terminal
UNION ALL
SELECT h.job_id, h.kind, h.queue, h.args, 'failed', h.priority, h.attempt, h.max_attempts,
  h.held_at, h.created_at, h.attempted_at, h.held_at, h.tags, h.metadata, h.errors, h.progress,
  h.original_run_lease, h.unique_key, h.hold_kind, NULL
FROM {{schema}}.dlq_entries h;
