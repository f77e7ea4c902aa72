-- Admin layer (jobs, DLQ, history): retention settings, the completed-job history that outlives
-- the queue ring, and the indexes the admin listings need.

-- Retention defaults, one row. completed_ms covers completed and cancelled jobs in job_history
-- (and the unique claims of completed jobs, which live until their history row expires);
-- failed_ms covers held failures (dlq_entries, hold 'failed'; NULL: follow completed_ms);
-- dlq_ms covers the DLQ (hold 'dlq'). 0 keeps nothing past the ring (or past the next cleanup).
CREATE TABLE {{schema}}.retention_defaults (
  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  completed_ms bigint NOT NULL DEFAULT 86400000 CHECK (completed_ms >= 0),
  failed_ms bigint CHECK (failed_ms >= 0),
  dlq_ms bigint NOT NULL DEFAULT 2592000000 CHECK (dlq_ms >= 0)
);
INSERT INTO {{schema}}.retention_defaults DEFAULT VALUES;

-- Per-queue overrides; NULL: the default.
ALTER TABLE {{schema}}.queue_meta
  ADD COLUMN completed_retention_ms bigint CHECK (completed_retention_ms >= 0),
  ADD COLUMN failed_retention_ms bigint CHECK (failed_retention_ms >= 0),
  ADD COLUMN dlq_retention_ms bigint CHECK (dlq_retention_ms >= 0);

-- Finished jobs after their ring slot is pruned: append-only, range-partitioned by the instant
-- the row expires, reclaimed by dropping whole partitions (never row deletes). Rows are copied
-- in the prune transaction that truncates their slot, so a job is in the ring or here, never
-- both. Partitions are created ahead by the `history` maintenance service; the default partition
-- catches rows beyond them and is truncated once everything in it has expired.
CREATE TABLE {{schema}}.job_history (
  expires_at timestamptz NOT NULL,
  job_id bigint NOT NULL,
  run_lease bigint NOT NULL,
  queue text NOT NULL,
  kind text NOT NULL,
  priority smallint NOT NULL,
  state {{schema}}.job_state NOT NULL,
  attempt smallint NOT NULL,
  max_attempts smallint NOT NULL,
  args jsonb NOT NULL,
  tags text[] NOT NULL,
  metadata jsonb NOT NULL,
  run_at timestamptz,
  created_at timestamptz NOT NULL,
  attempted_at timestamptz,
  finalized_at timestamptz NOT NULL,
  result jsonb,
  errors jsonb,
  progress jsonb,
  unique_key bytea,
  unique_states bit(8)
) PARTITION BY RANGE (expires_at);
CREATE TABLE {{schema}}.job_history_default PARTITION OF {{schema}}.job_history DEFAULT;
-- Newest-first keyset pages and lookups by id.
CREATE INDEX job_history_job ON {{schema}}.job_history (job_id);

-- Keyset pages of held jobs by id within one hold kind.
CREATE INDEX dlq_entries_kind_job ON {{schema}}.dlq_entries (hold_kind, job_id);
-- Bulk operations and drains of one queue's deferred jobs.
CREATE INDEX deferred_jobs_queue ON {{schema}}.deferred_jobs (queue, job_id);
