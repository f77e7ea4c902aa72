-- How long a finished job of p_queue is kept, in ms: p_kind 'completed' (completed and cancelled
-- jobs in job_history), 'failed' (held failures; follows 'completed' unless set) or 'dlq'. The
-- queue's override, else the default row.
CREATE OR REPLACE FUNCTION {{schema}}.retention_ms(p_queue text, p_kind text)
RETURNS bigint LANGUAGE sql STABLE AS $$
  SELECT CASE p_kind
    WHEN 'completed' THEN coalesce(m.completed_retention_ms, d.completed_ms)
    WHEN 'failed' THEN coalesce(m.failed_retention_ms, d.failed_ms, m.completed_retention_ms,
      d.completed_ms)
    WHEN 'dlq' THEN coalesce(m.dlq_retention_ms, d.dlq_ms)
  END
  FROM {{schema}}.retention_defaults d
  LEFT JOIN {{schema}}.queue_meta m ON m.queue = p_queue
$$;
