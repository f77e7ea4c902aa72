-- The receipt of an attempt: its claim batch and its index in the batch, as one bigint
-- (batch_id * 65536 + idx; a batch claims at most 65536 jobs). Closures and heartbeats store
-- receipts as ranges; src/runtime computes the same number. IMMUTABLE LANGUAGE sql with one
-- expression: the planner inlines it, so index conditions see the plain arithmetic.
CREATE OR REPLACE FUNCTION {{schema}}.receipt_id(p_batch_id bigint, p_idx int)
RETURNS bigint LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT p_batch_id * 65536 + p_idx
$$;
