-- Whether the attempt (job_id, run_lease) with this receipt is still open: its claim batch
-- holds it and no closure contains the receipt. Callers hold the attempt lock, so the answer
-- stays true until they commit.
CREATE OR REPLACE FUNCTION {{schema}}.callback_attempt_open(p_claim_slot smallint, p_receipt bigint,
  p_job_id bigint, p_run_lease bigint)
RETURNS boolean LANGUAGE sql STABLE AS $$
  SELECT EXISTS (
    SELECT 1 FROM {{schema}}.claim_batches b
    WHERE b.claim_slot = p_claim_slot AND b.batch_id = p_receipt / 65536
      AND b.job_ids[(p_receipt % 65536)::int + 1] = p_job_id
      AND b.run_leases[(p_receipt % 65536)::int + 1] = p_run_lease
  ) AND NOT EXISTS (
    SELECT 1 FROM {{schema}}.claim_closures c
    WHERE c.claim_slot = p_claim_slot AND c.receipt_ranges @> p_receipt
  )
$$;
