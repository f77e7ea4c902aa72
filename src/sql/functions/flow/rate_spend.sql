-- Take p_n tokens from p_queue's bucket, refilled up to now (the claim that called rate_budget
-- holds the row). One row version per claim that took jobs; a claim that took none writes
-- nothing, the refill being a function of refilled_at.
CREATE OR REPLACE FUNCTION {{schema}}.rate_spend(p_queue text, p_n int)
RETURNS void LANGUAGE sql VOLATILE AS $$
  UPDATE {{schema}}.queue_flow f
  SET tokens = least(f.rate_count::double precision, f.tokens + greatest(
      extract(epoch FROM clock_timestamp() - f.refilled_at) * 1000, 0)
      * f.rate_count / f.rate_interval_ms) - p_n,
    refilled_at = clock_timestamp()
  WHERE f.queue = p_queue AND f.rate_count IS NOT NULL
$$;
