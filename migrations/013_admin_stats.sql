-- The admin layer's storage (docs/operations.md): exact recent terminal counts for queue_stats,
-- the last outcome of ring maintenance for storage status, and an index that makes per-queue
-- counts of deferred jobs cheap.

-- Terminal rows (completed, cancelled) by queue, state and the second they were finalized,
-- written by prune_ring in the transaction that truncates their slot, so a row is counted
-- either live in done_entries or here, never both and never neither. Buckets older than an
-- hour (and a minute of margin) are deleted by the same prune: a bounded trickle of dead
-- tuples per queue and state, independent of throughput.
CREATE TABLE {{schema}}.queue_terminal_counts (
  queue text NOT NULL,
  state {{schema}}.job_state NOT NULL,
  bucket timestamptz NOT NULL,
  n bigint NOT NULL CHECK (n > 0),
  PRIMARY KEY (queue, state, bucket)
) WITH (fillfactor = 70);
CREATE INDEX queue_terminal_counts_bucket ON {{schema}}.queue_terminal_counts (bucket);

-- The last prune and rotate outcome of each ring, written by the rings maintenance service
-- within a second of a change and every 10 s otherwise; one row per ring, updated in place.
CREATE TABLE {{schema}}.ring_maintenance_status (
  ring text PRIMARY KEY CHECK (ring IN ('queue', 'claim')),
  prune_outcome text NOT NULL,
  pruned_checked_at timestamptz NOT NULL,
  last_pruned_at timestamptz,
  rotate_outcome text NOT NULL,
  rotate_checked_at timestamptz NOT NULL,
  last_rotated_at timestamptz
) WITH (fillfactor = 50);

CREATE INDEX deferred_jobs_queue_state ON {{schema}}.deferred_jobs (queue, state);
