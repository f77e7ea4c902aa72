-- Write progress of open attempts (flushProgress / heartbeat). Items: {claim_slot, batch_id, idx,
-- job_id, run_lease, progress}. Returns the (job_id, run_lease) pairs that were still open.
CREATE OR REPLACE FUNCTION {{schema}}.write_progress(p_items jsonb)
RETURNS TABLE (job_id bigint, run_lease bigint) LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  RETURN QUERY
  WITH items AS (
    SELECT i.* FROM jsonb_to_recordset(p_items) AS i(
      claim_slot smallint, batch_id bigint, idx int, job_id bigint, run_lease bigint,
      progress jsonb
    )
  ), live AS (
    SELECT i.* FROM items i
    JOIN {{schema}}.claim_batches b ON b.claim_slot = i.claim_slot AND b.batch_id = i.batch_id
    WHERE b.job_ids[i.idx + 1] = i.job_id AND b.run_leases[i.idx + 1] = i.run_lease
      AND NOT EXISTS (
        SELECT 1 FROM {{schema}}.claim_closures c
        WHERE c.claim_slot = i.claim_slot AND c.receipt_ranges @> {{schema}}.receipt_id(i.batch_id, i.idx)
      )
  ), up AS (
    INSERT INTO {{schema}}.attempt_state AS s (job_id, run_lease, receipt_id, claim_slot, progress)
    SELECT l.job_id, l.run_lease, {{schema}}.receipt_id(l.batch_id, l.idx), l.claim_slot, l.progress FROM live l
    ON CONFLICT ON CONSTRAINT attempt_state_pkey
    DO UPDATE SET progress = excluded.progress, updated_at = now()
    RETURNING s.job_id, s.run_lease
  )
  SELECT up.job_id, up.run_lease FROM up;
END
$$;
