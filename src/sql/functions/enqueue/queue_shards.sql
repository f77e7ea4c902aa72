-- Enqueue shards of a queue (queue_meta.enqueue_shards, default 4).
CREATE OR REPLACE FUNCTION {{schema}}.queue_shards(p_queue text)
RETURNS smallint LANGUAGE plpgsql STABLE AS $$
BEGIN
  RETURN coalesce((SELECT enqueue_shards FROM {{schema}}.queue_meta WHERE queue = p_queue), 4::smallint);
END
$$;
