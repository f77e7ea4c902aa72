-- How many jobs a claim of p_queue may take under the queue's fleet-wide rate limit, at most
-- p_want; null when the queue has no rate limit. Locks the queue's token row until the claim
-- commits, so concurrent claimers of the queue draw from the bucket one after another; the
-- claim then spends what it took with rate_spend.
CREATE OR REPLACE FUNCTION {{schema}}.rate_budget(p_queue text, p_want int)
RETURNS int LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_tokens double precision;
BEGIN
  SELECT least(f.rate_count::double precision, f.tokens + greatest(
      extract(epoch FROM clock_timestamp() - f.refilled_at) * 1000, 0)
      * f.rate_count / f.rate_interval_ms)
  INTO v_tokens
  FROM {{schema}}.queue_flow f
  WHERE f.queue = p_queue AND f.rate_count IS NOT NULL
  FOR UPDATE;
  IF NOT FOUND THEN
    RETURN NULL;
  END IF;
  RETURN least(p_want, floor(v_tokens))::int;
END
$$;
