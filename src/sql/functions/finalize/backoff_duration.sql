-- Retry delay for a failed attempt number `a` (as src/runtime/policy.ts): min(2^a + U·0.25·2^a, 24 h).
CREATE OR REPLACE FUNCTION {{schema}}.backoff_duration(p_attempt int, p_max_attempts int)
RETURNS interval LANGUAGE sql VOLATILE AS $$
  SELECT make_interval(secs => least(
    power(2, least(p_attempt, 30)) + random() * 0.25 * power(2, least(p_attempt, 30)), 86400
  ))
$$;
