-- Heartbeat: one row per claim slot listing the receipts a runtime still runs.
-- p_receipts: [{claim_slot, receipt}] with receipt = receipt_id(batch_id, idx).
CREATE OR REPLACE FUNCTION {{schema}}.record_heartbeat(p_instance uuid, p_receipts jsonb)
RETURNS void LANGUAGE sql VOLATILE AS $$
  INSERT INTO {{schema}}.attempt_heartbeats (claim_slot, instance_id, beat_at, receipt_ranges)
  SELECT (x ->> 'claim_slot')::smallint, p_instance, clock_timestamp(),
    range_agg(int8range((x ->> 'receipt')::bigint, (x ->> 'receipt')::bigint + 1))
  FROM jsonb_array_elements(p_receipts) x
  GROUP BY 1;
  UPDATE {{schema}}.runtime_instances SET last_seen_at = clock_timestamp() WHERE instance_id = p_instance;
$$;
