-- Bulk enqueue of a small batch in one statement: the name checks and reservation of
-- reserve_bulk_enqueue, then the rows themselves, written from JSON. The same rows, ids, lane
-- positions, unique claims and notifications as the two-step path (reserve, then COPY), in one
-- round trip: outside a caller's transaction the statement is its own transaction, so a batch
-- of a few jobs needs no BEGIN, COPY and COMMIT of its own. p_jobs is a JSON array in batch
-- order, one array per job:
--   [group (index into p_groups; null for a job that runs later), queue, priority, kind, args,
--    max_attempts, tags (JSON array), metadata, unique_key (hex) | null,
--    unique_states | null, run_at | null]
-- Returns the ids in batch order as a JSON array of decimal strings, null where p_on_conflict 'skip' dropped a duplicate.
CREATE OR REPLACE FUNCTION {{schema}}.enqueue_small_batch(p_groups jsonb, p_unique jsonb,
  p_on_conflict text, p_kinds text[], p_queues text[], p_jobs jsonb)
RETURNS jsonb LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  r jsonb;
  v_now timestamptz;
  v_slot smallint;
  v_generation bigint;
  v_ids jsonb;
BEGIN
  PERFORM {{schema}}.check_batch_names(p_kinds, p_queues);
  r := {{schema}}.reserve_bulk_enqueue(p_groups, jsonb_array_length(p_jobs), p_unique,
    p_on_conflict);
  v_now := (r ->> 'now')::timestamptz;
  v_slot := (r ->> 'slot')::smallint;
  v_generation := (r ->> 'generation')::bigint;

  -- Ids in reservation order are the batch's ids in batch order (as the unique claims took
  -- them); conflicting rows keep their id unused.
  WITH ids AS (
    SELECT (row_number() OVER (ORDER BY v) - 1)::int AS idx, v AS id
    FROM (
      SELECT generate_series((x ->> 0)::bigint, (x ->> 1)::bigint - 1) AS v
      FROM jsonb_array_elements(r -> 'ids') x
    ) s
  ), jobs AS (
    SELECT (e.o - 1)::int AS idx, e.j FROM jsonb_array_elements(p_jobs) WITH ORDINALITY e(j, o)
  ), kept AS MATERIALIZED (
    SELECT jobs.idx, jobs.j, ids.id FROM jobs JOIN ids USING (idx)
    WHERE NOT (r -> 'conflicts') @> to_jsonb(jobs.idx)
  ), lanes AS (
    SELECT (l ->> 'group')::int AS grp, (l ->> 'shard')::smallint AS shard,
      (l ->> 'base')::bigint AS base
    FROM jsonb_array_elements(r -> 'lanes') l
  ), ready AS (
    -- Each group's rows take its block's positions in batch order.
    INSERT INTO {{schema}}.ready_entries (
      ready_slot, generation, queue, priority, enqueue_shard, lane_seq, job_id, kind, args,
      max_attempts, tags, metadata, unique_key, unique_states, attempt, run_lease, run_at,
      created_at
    )
    SELECT v_slot, v_generation, k.j ->> 1, (k.j ->> 2)::smallint, lanes.shard,
      lanes.base + row_number() OVER (PARTITION BY lanes.grp ORDER BY k.idx) - 1, k.id,
      k.j ->> 3, k.j -> 4, (k.j ->> 5)::smallint,
      ARRAY(SELECT jsonb_array_elements_text(k.j -> 6)), k.j -> 7,
      decode(k.j ->> 8, 'hex'), (k.j ->> 9)::bit(8), 0, 0,
      coalesce((k.j ->> 10)::timestamptz, v_now), v_now
    FROM kept k JOIN lanes ON lanes.grp = (k.j ->> 0)::int
  ), deferred AS (
    INSERT INTO {{schema}}.deferred_jobs (
      job_id, state, run_at, queue, priority, kind, args, max_attempts, tags, metadata,
      unique_key, unique_states, attempt, run_lease, created_at
    )
    SELECT k.id, 'scheduled', (k.j ->> 10)::timestamptz, k.j ->> 1, (k.j ->> 2)::smallint,
      k.j ->> 3, k.j -> 4, (k.j ->> 5)::smallint,
      ARRAY(SELECT jsonb_array_elements_text(k.j -> 6)), k.j -> 7,
      decode(k.j ->> 8, 'hex'), (k.j ->> 9)::bit(8), 0, 0, v_now
    FROM kept k WHERE k.j -> 0 = 'null'::jsonb
  )
  SELECT jsonb_agg(k.id::text ORDER BY jobs.idx) INTO v_ids
  FROM jobs LEFT JOIN kept k USING (idx);
  RETURN v_ids;
END
$$;
