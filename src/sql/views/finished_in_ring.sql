-- Finished jobs (completed, cancelled) still in the queue ring, each with its body: the newest
-- ready row of the job at run_lease - 1 in the terminal row's slot (a DLQ retry starts a job
-- again at run_lease 0, so an older row with the same job and lease can sit in the slot), else
-- the wide row's body. The columns of job_history, with ready_slot for expires_at. A filter on
-- ready_slot, job_id or run_lease is pushed into the DISTINCT ON.
CREATE OR REPLACE VIEW {{schema}}.finished_in_ring AS
SELECT DISTINCT ON (t.ready_slot, t.job_id, t.run_lease)
  t.ready_slot, t.job_id, t.run_lease, t.queue, coalesce(r.kind, t.body ->> 'kind') AS kind,
  t.priority, t.state, t.attempt,
  coalesce(r.max_attempts, (t.body ->> 'max_attempts')::smallint) AS max_attempts,
  coalesce(r.args, t.body -> 'args') AS args,
  coalesce(r.tags, ARRAY(SELECT jsonb_array_elements_text(t.body -> 'tags'))) AS tags,
  coalesce(r.metadata, t.body -> 'metadata') AS metadata,
  coalesce(r.run_at, (t.body ->> 'run_at')::timestamptz) AS run_at,
  coalesce(r.created_at, (t.body ->> 'created_at')::timestamptz) AS created_at, t.attempted_at,
  t.finalized_at, t.result, coalesce(t.errors, r.errors) AS errors, t.progress, r.unique_key,
  r.unique_states
FROM {{schema}}.done_entries t
LEFT JOIN {{schema}}.ready_entries r
  ON r.ready_slot = t.ready_slot AND r.job_id = t.job_id AND r.run_lease = t.run_lease - 1
ORDER BY t.ready_slot, t.job_id, t.run_lease, r.lane_seq DESC NULLS LAST;
