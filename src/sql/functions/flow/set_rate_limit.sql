-- Set (or clear, p_count null) the fleet-wide rate limit of a queue: at most p_count claims per
-- p_interval_ms across all processes. A new or changed limit starts with a full bucket.
CREATE OR REPLACE FUNCTION {{schema}}.set_rate_limit(p_queue text, p_count int, p_interval_ms int)
RETURNS void LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  IF (p_count IS NULL) <> (p_interval_ms IS NULL) THEN
    RAISE EXCEPTION 'awa: invalid rate limit: set both count and interval, or neither'
      USING ERRCODE = '22023';
  END IF;
  IF p_count IS NOT NULL AND (p_count NOT BETWEEN 1 AND 1000000000
      OR p_interval_ms NOT BETWEEN 1 AND 86400000) THEN
    RAISE EXCEPTION 'awa: invalid rate limit: count 1 to 1e9 per interval of 1 ms to 24 h'
      USING ERRCODE = '22023';
  END IF;
  INSERT INTO {{schema}}.queue_flow AS f (queue, rate_count, rate_interval_ms, tokens, refilled_at)
  VALUES (p_queue, p_count, p_interval_ms, coalesce(p_count, 0), clock_timestamp())
  ON CONFLICT (queue) DO UPDATE SET rate_count = excluded.rate_count,
    rate_interval_ms = excluded.rate_interval_ms, tokens = excluded.tokens,
    refilled_at = excluded.refilled_at
  WHERE (f.rate_count, f.rate_interval_ms) IS DISTINCT FROM (excluded.rate_count, excluded.rate_interval_ms);
END
$$;
