-- Awa storage engine, version 1: segmented ring storage (see shared design storage.md).
--
-- Hot tables are list-partitioned by ring slot and only ever INSERTed into; a slot is reclaimed
-- by TRUNCATE once maintenance proves it dead. Mutable state lives in small, bounded tables.
-- The schema name `awa` is substituted when a different schema is configured.

CREATE SCHEMA IF NOT EXISTS awa;

CREATE TYPE awa.job_state AS ENUM (
  'scheduled', 'available', 'running', 'completed', 'retryable', 'failed', 'cancelled',
  'waiting_external'
);

CREATE TYPE awa.inserted_job AS (
  id bigint,
  kind text,
  queue text,
  state text,
  priority smallint,
  max_attempts smallint,
  run_at timestamptz,
  created_at timestamptz,
  unique_key bytea,
  enqueue_shard smallint
);

CREATE SEQUENCE awa.job_id_seq;
CREATE SEQUENCE awa.claim_batch_id_seq;
-- One sequence serves every lane: a lane's positions only need to increase, and the lane's
-- enqueue lock (held to commit) orders reservations. Gaps are harmless.
CREATE SEQUENCE awa.lane_seq CACHE 1;

------------------------------------------------------------------------------------------------
-- Control tables (cold)
------------------------------------------------------------------------------------------------

CREATE TABLE awa.queue_meta (
  queue text PRIMARY KEY,
  paused boolean NOT NULL DEFAULT false,
  enqueue_shards smallint NOT NULL DEFAULT 4 CHECK (enqueue_shards BETWEEN 1 AND 64),
  dlq_enabled boolean,
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- Every lane that has ever received a job. Written once per lane, under that lane's enqueue
-- lock, so it never makes producers wait; claims rank only these lanes.
CREATE TABLE awa.lanes (
  queue text NOT NULL,
  priority smallint NOT NULL,
  enqueue_shard smallint NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (queue, priority, enqueue_shard)
);

CREATE TABLE awa.ring_config (
  ring text PRIMARY KEY CHECK (ring IN ('queue', 'claim')),
  slot_count smallint NOT NULL
);
INSERT INTO awa.ring_config VALUES ('queue', 16), ('claim', 8);

-- Append-only ledger; the row with the highest generation is the ring's cursor.
CREATE TABLE awa.ring_rotations (
  ring text NOT NULL,
  generation bigint NOT NULL,
  slot smallint NOT NULL,
  rotated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (ring, generation)
);
INSERT INTO awa.ring_rotations (ring, generation, slot) VALUES ('queue', 0, 0), ('claim', 0, 0);

CREATE TABLE awa.runtime_instances (
  instance_id uuid PRIMARY KEY,
  hostname text NOT NULL,
  pid integer NOT NULL,
  version text NOT NULL,
  started_at timestamptz NOT NULL DEFAULT now(),
  last_seen_at timestamptz NOT NULL DEFAULT now(),
  snapshot_interval_ms integer NOT NULL,
  leader boolean NOT NULL DEFAULT false,
  shutting_down boolean NOT NULL DEFAULT false,
  queues jsonb NOT NULL DEFAULT '{}'
);

CREATE TABLE awa.job_unique_claims (
  unique_key bytea NOT NULL,
  job_id bigint NOT NULL
);
CREATE UNIQUE INDEX idx_awa_jobs_unique ON awa.job_unique_claims (unique_key);
CREATE INDEX job_unique_claims_job ON awa.job_unique_claims (job_id);

-- Folded per-queue terminal counts; rows in the ring are counted live until their slot is pruned.
CREATE TABLE awa.terminal_rollups (
  queue text NOT NULL,
  state awa.job_state NOT NULL,
  total bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (queue, state)
);
CREATE TABLE awa.terminal_rollup_deltas (
  queue text NOT NULL,
  state awa.job_state NOT NULL,
  delta bigint NOT NULL,
  recorded_at timestamptz NOT NULL DEFAULT now()
);

------------------------------------------------------------------------------------------------
-- Ring Q: the queue ring (ready rows and their terminal facts share a slot)
------------------------------------------------------------------------------------------------

CREATE TABLE awa.ready_entries (
  ready_slot smallint NOT NULL,
  generation bigint NOT NULL,
  queue text NOT NULL,
  priority smallint NOT NULL,
  enqueue_shard smallint NOT NULL,
  lane_seq bigint NOT NULL,
  job_id bigint NOT NULL,
  kind text NOT NULL,
  args jsonb NOT NULL,
  attempt smallint NOT NULL,
  run_lease bigint NOT NULL,
  max_attempts smallint NOT NULL,
  run_at timestamptz NOT NULL,
  created_at timestamptz NOT NULL,
  tags text[] NOT NULL,
  metadata jsonb NOT NULL,
  errors jsonb,
  progress jsonb,
  unique_key bytea,
  unique_states bit(8),
  -- Lane first: claims walk one lane in order inside each slot partition.
  PRIMARY KEY (queue, priority, enqueue_shard, lane_seq, ready_slot)
) PARTITION BY LIST (ready_slot);

CREATE TABLE awa.ready_tombstones (
  ready_slot smallint NOT NULL,
  queue text NOT NULL,
  priority smallint NOT NULL,
  enqueue_shard smallint NOT NULL,
  lane_seq bigint NOT NULL,
  job_id bigint NOT NULL,
  reason text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (queue, priority, enqueue_shard, lane_seq, ready_slot)
) PARTITION BY LIST (ready_slot);

-- One row per claim: the lane positions [first_lane_seq, next_lane_seq) were emitted. The claim
-- cursor of a lane is the highest retained next_lane_seq.
CREATE TABLE awa.claim_emissions (
  ready_slot smallint NOT NULL,
  queue text NOT NULL,
  priority smallint NOT NULL,
  enqueue_shard smallint NOT NULL,
  first_lane_seq bigint NOT NULL,
  next_lane_seq bigint NOT NULL,
  claimed_count integer NOT NULL CHECK (claimed_count >= 0),
  claim_slot smallint NOT NULL,
  batch_id bigint,
  PRIMARY KEY (queue, priority, enqueue_shard, next_lane_seq, ready_slot)
) PARTITION BY LIST (ready_slot);

-- Terminal facts (completed, cancelled), written into the slot of the ready row they finish.
-- `body` is filled only for "wide" rows whose ready row is not in the same slot (a cancelled
-- deferred job); otherwise the body is the newest ready row with the same slot and job_id and
-- run_lease - 1 (after a DLQ retry an older row of the job can match too).
CREATE TABLE awa.done_entries (
  ready_slot smallint NOT NULL,
  job_id bigint NOT NULL,
  run_lease bigint NOT NULL,
  queue text NOT NULL,
  priority smallint NOT NULL,
  state awa.job_state NOT NULL,
  attempt smallint NOT NULL,
  attempted_at timestamptz,
  finalized_at timestamptz NOT NULL,
  result jsonb,
  errors jsonb,
  progress jsonb,
  body jsonb,
  PRIMARY KEY (job_id, run_lease, ready_slot)
) PARTITION BY LIST (ready_slot);

------------------------------------------------------------------------------------------------
-- Ring C: the attempt ring (claims, their closures, heartbeats)
------------------------------------------------------------------------------------------------

CREATE TABLE awa.claim_batches (
  claim_slot smallint NOT NULL,
  generation bigint NOT NULL,
  batch_id bigint NOT NULL,
  instance_id uuid,
  queue text NOT NULL,
  priority smallint NOT NULL,
  enqueue_shard smallint NOT NULL,
  ready_slot smallint NOT NULL,
  claimed_count integer NOT NULL,
  job_ids bigint[] NOT NULL,
  run_leases bigint[] NOT NULL,
  lane_seqs bigint[] NOT NULL,
  attempts smallint[] NOT NULL,
  claimed_at timestamptz NOT NULL,
  deadline_at timestamptz,
  -- Whether any claimed job holds a unique claim; without one, a completion needs nothing from
  -- the ready row. Defaults to true, the safe answer for a writer that does not know.
  has_unique boolean NOT NULL DEFAULT true,
  PRIMARY KEY (batch_id, claim_slot)
) PARTITION BY LIST (claim_slot);
CREATE INDEX claim_batches_ready_slot ON awa.claim_batches (ready_slot);
CREATE INDEX claim_batches_deadline ON awa.claim_batches (deadline_at)
  WHERE deadline_at IS NOT NULL;

-- Every path that ends an attempt appends a closure; receipt_id = batch_id * 65536 + index.
-- Each leaf carries an exclusion constraint, so no receipt can be closed twice.
CREATE TABLE awa.claim_closures (
  claim_slot smallint NOT NULL,
  ready_slot smallint NOT NULL,
  outcome text NOT NULL,
  closed_count integer NOT NULL,
  receipt_ranges int8multirange NOT NULL,
  closed_at timestamptz NOT NULL DEFAULT now()
) PARTITION BY LIST (claim_slot);

CREATE TABLE awa.attempt_heartbeats (
  claim_slot smallint NOT NULL,
  instance_id uuid NOT NULL,
  beat_at timestamptz NOT NULL,
  receipt_ranges int8multirange NOT NULL
) PARTITION BY LIST (claim_slot);

DO $$
DECLARE
  s int;
BEGIN
  FOR s IN 0..15 LOOP
    EXECUTE format('CREATE TABLE awa.ready_entries_%s PARTITION OF awa.ready_entries FOR VALUES IN (%s)', s, s);
    EXECUTE format('CREATE TABLE awa.ready_tombstones_%s PARTITION OF awa.ready_tombstones FOR VALUES IN (%s)', s, s);
    EXECUTE format('CREATE TABLE awa.claim_emissions_%s PARTITION OF awa.claim_emissions FOR VALUES IN (%s)', s, s);
    EXECUTE format('CREATE TABLE awa.done_entries_%s PARTITION OF awa.done_entries FOR VALUES IN (%s)', s, s);
  END LOOP;
  FOR s IN 0..7 LOOP
    EXECUTE format('CREATE TABLE awa.claim_batches_%s PARTITION OF awa.claim_batches FOR VALUES IN (%s)', s, s);
    EXECUTE format('CREATE TABLE awa.claim_closures_%s PARTITION OF awa.claim_closures FOR VALUES IN (%s)', s, s);
    EXECUTE format('ALTER TABLE awa.claim_closures_%s ADD CONSTRAINT claim_closures_%s_once EXCLUDE USING gist (receipt_ranges WITH &&)', s, s);
    EXECUTE format('CREATE TABLE awa.attempt_heartbeats_%s PARTITION OF awa.attempt_heartbeats FOR VALUES IN (%s)', s, s);
    EXECUTE format('CREATE INDEX attempt_heartbeats_%s_ranges ON awa.attempt_heartbeats_%s USING gist (receipt_ranges)', s, s);
  END LOOP;
END
$$;
CREATE INDEX ready_entries_job ON awa.ready_entries (job_id);
CREATE INDEX claim_closures_ready_slot ON awa.claim_closures (ready_slot);

------------------------------------------------------------------------------------------------
-- Plain tables: bounded mutable state and backlogs
------------------------------------------------------------------------------------------------

-- Mutable per-attempt state (progress, callbacks); exists only while the attempt is open.
CREATE TABLE awa.attempt_state (
  job_id bigint NOT NULL,
  run_lease bigint NOT NULL,
  receipt_id bigint NOT NULL,
  claim_slot smallint NOT NULL,
  state awa.job_state NOT NULL DEFAULT 'running',
  progress jsonb,
  callback_id uuid,
  callback_timeout_at timestamptz,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (job_id, run_lease)
);

CREATE TABLE awa.deferred_jobs (
  job_id bigint PRIMARY KEY,
  state awa.job_state NOT NULL CHECK (state IN ('scheduled', 'retryable')),
  run_at timestamptz NOT NULL,
  queue text NOT NULL,
  priority smallint NOT NULL,
  kind text NOT NULL,
  args jsonb NOT NULL,
  attempt smallint NOT NULL,
  run_lease bigint NOT NULL,
  max_attempts smallint NOT NULL,
  created_at timestamptz NOT NULL,
  tags text[] NOT NULL,
  metadata jsonb NOT NULL,
  errors jsonb,
  progress jsonb,
  unique_key bytea,
  unique_states bit(8)
);
CREATE INDEX deferred_jobs_due ON awa.deferred_jobs (run_at, priority, job_id);

-- Held jobs: the dead letter queue ('dlq') and terminal failures kept for inspection ('failed').
CREATE TABLE awa.dlq_entries (
  job_id bigint PRIMARY KEY,
  hold_kind text NOT NULL CHECK (hold_kind IN ('dlq', 'failed')),
  reason text NOT NULL,
  held_at timestamptz NOT NULL DEFAULT now(),
  original_run_lease bigint NOT NULL,
  queue text NOT NULL,
  priority smallint NOT NULL,
  kind text NOT NULL,
  args jsonb NOT NULL,
  attempt smallint NOT NULL,
  max_attempts smallint NOT NULL,
  created_at timestamptz NOT NULL,
  attempted_at timestamptz,
  tags text[] NOT NULL,
  metadata jsonb NOT NULL,
  errors jsonb,
  progress jsonb,
  unique_key bytea,
  unique_states bit(8)
);
CREATE INDEX dlq_entries_queue ON awa.dlq_entries (queue, held_at);
CREATE INDEX dlq_entries_held ON awa.dlq_entries (hold_kind, held_at);

CREATE TABLE awa.schema_version (
  version integer PRIMARY KEY,
  description text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now()
);
