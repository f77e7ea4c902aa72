-- Take the enqueue lock of a lane of (queue, priority), register the lane on first use, and
-- return its shard.
CREATE OR REPLACE FUNCTION {{schema}}.lock_enqueue_lane(p_queue text, p_priority smallint, p_key_hash numeric)
RETURNS smallint LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  shard smallint := {{schema}}.acquire_enqueue_shard(p_queue, p_priority, p_key_hash);
BEGIN
  IF NOT EXISTS (
    SELECT 1 FROM {{schema}}.lanes
    WHERE queue = p_queue AND priority = p_priority AND enqueue_shard = shard
  ) THEN
    INSERT INTO {{schema}}.lanes (queue, priority, enqueue_shard) VALUES (p_queue, p_priority, shard)
    ON CONFLICT DO NOTHING;
  END IF;
  RETURN shard;
END
$$;
