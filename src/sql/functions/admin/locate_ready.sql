-- Where a job currently is: the newest ready row, and whether its lane has emitted it. Newest by
-- position (lane positions come from one global sequence), not by run_lease: a DLQ retry starts
-- the job again at run_lease 0, below the leases of its older rows.
CREATE OR REPLACE FUNCTION {{schema}}.locate_ready(p_job_id bigint)
RETURNS TABLE (ready_slot smallint, queue text, priority smallint, enqueue_shard smallint,
  lane_seq bigint, run_lease bigint, claim_slot smallint, batch_id bigint, first_lane_seq bigint)
LANGUAGE sql STABLE AS $$
  SELECT r.ready_slot, r.queue, r.priority, r.enqueue_shard, r.lane_seq, r.run_lease,
    e.claim_slot, e.batch_id, e.first_lane_seq
  FROM {{schema}}.ready_entries r
  LEFT JOIN {{schema}}.claim_emissions e
    ON e.ready_slot = r.ready_slot AND e.queue = r.queue AND e.priority = r.priority
    AND e.enqueue_shard = r.enqueue_shard
    AND r.lane_seq >= e.first_lane_seq AND r.lane_seq < e.next_lane_seq
  WHERE r.job_id = p_job_id
  ORDER BY r.lane_seq DESC
  LIMIT 1
$$;
