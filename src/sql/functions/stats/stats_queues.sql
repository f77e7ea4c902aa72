-- Every queue the schema knows of: configured (queue_meta), ever enqueued to (lanes), with
-- deferred or held jobs, or with terminal counts. The deferred and held tables are walked one
-- distinct queue at a time through their queue indexes, so a deep backlog costs one probe
-- per queue, not a scan.
CREATE OR REPLACE FUNCTION {{schema}}.stats_queues()
RETURNS SETOF text LANGUAGE sql STABLE AS $$
  WITH RECURSIVE deferred(q) AS (
    SELECT min(d.queue) FROM {{schema}}.deferred_jobs d
    UNION ALL
    SELECT (SELECT min(d.queue) FROM {{schema}}.deferred_jobs d WHERE d.queue > deferred.q)
    FROM deferred WHERE deferred.q IS NOT NULL
  ), held(q) AS (
    SELECT min(h.queue) FROM {{schema}}.dlq_entries h
    UNION ALL
    SELECT (SELECT min(h.queue) FROM {{schema}}.dlq_entries h WHERE h.queue > held.q)
    FROM held WHERE held.q IS NOT NULL
  )
  SELECT q FROM (
    SELECT m.queue AS q FROM {{schema}}.queue_meta m
    UNION SELECT l.queue FROM {{schema}}.lanes l
    UNION SELECT t.queue FROM {{schema}}.terminal_rollups t
    UNION SELECT deferred.q FROM deferred
    UNION SELECT held.q FROM held
  ) s WHERE q IS NOT NULL ORDER BY q
$$;
