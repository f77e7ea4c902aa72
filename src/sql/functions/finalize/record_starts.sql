-- Record the start of held attempts. p_receipts: [{claim_slot, receipt}] as for heartbeats.
CREATE OR REPLACE FUNCTION {{schema}}.record_starts(p_instance uuid, p_receipts jsonb)
RETURNS void LANGUAGE sql VOLATILE AS $$
  INSERT INTO {{schema}}.attempt_heartbeats (claim_slot, instance_id, beat_at, receipt_ranges, started)
  SELECT (x ->> 'claim_slot')::smallint, p_instance, clock_timestamp(),
    range_agg(int8range((x ->> 'receipt')::bigint, (x ->> 'receipt')::bigint + 1)), true
  FROM jsonb_array_elements(p_receipts) x
  GROUP BY 1;
$$;
