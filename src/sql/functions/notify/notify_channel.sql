-- The NOTIFY channel of a topic: a queue name for wakeups, '@cancel' for cancellations ('@' is
-- outside the queue-name alphabet, so no queue can collide with it). Channels are scoped to the
-- schema, because job ids are per-schema sequences and a cancel in one schema must never abort
-- an attempt with the same id and lease in another. The default schema keeps awa:<topic>;
-- another schema s uses s:<topic>, or awa~md5(s:<topic>) when that would pass the 63-byte
-- channel limit ('~' is in no schema or queue name). The schema name is a literal in the body,
-- so the function stays IMMUTABLE and costs nothing per NOTIFY; src/runtime/channels.ts
-- computes the same names.
CREATE OR REPLACE FUNCTION {{schema}}.notify_channel(p_topic text)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE
    WHEN '{{schema}}' = 'awa' THEN 'awa:' || p_topic
    WHEN octet_length('{{schema}}' || ':' || p_topic) <= 63 THEN '{{schema}}' || ':' || p_topic
    ELSE 'awa~' || md5('{{schema}}' || ':' || p_topic)
  END
$$;
