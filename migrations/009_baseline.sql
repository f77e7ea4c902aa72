-- Baseline: the tables, types and sequences of Awa's segmented ring storage as migrations 001-009
-- of earlier releases left them, without their functions (those live in src/sql/ and are
-- re-applied by migrate() when their text changes). Recorded as version 9: a database built by
-- those migrations is already at 9 and skips this file. Append-only from here on: never edit
-- this file, add a migration (docs/migrations.md).
--
-- Hot tables are list-partitioned by ring slot and only ever INSERTed into; a slot is reclaimed
-- by TRUNCATE once maintenance proves it dead. Mutable state lives in small, bounded tables.
-- {{schema}} is replaced by the configured schema name.

CREATE SCHEMA IF NOT EXISTS {{schema}};

CREATE TYPE {{schema}}.job_state AS ENUM (
  'scheduled', 'available', 'running', 'completed', 'retryable', 'failed', 'cancelled',
  'waiting_external'
);

CREATE TYPE {{schema}}.inserted_job AS (
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

CREATE SEQUENCE {{schema}}.job_id_seq;
CREATE SEQUENCE {{schema}}.claim_batch_id_seq;
-- One sequence serves every lane: a lane's positions only need to increase, and the lane's
-- enqueue lock (held to commit) orders reservations. Gaps are harmless.
CREATE SEQUENCE {{schema}}.lane_seq CACHE 1;
-- Lane positions are reserved in blocks: one nextval per reservation gives 65536 positions, so a
-- COPY batch of up to 65536 rows in one lane needs a single call. Positions only have to increase
-- within a lane; the lane's enqueue lock, held to commit, orders the reservations.
CREATE SEQUENCE {{schema}}.lane_block_seq INCREMENT BY 65536 MINVALUE 65536 START WITH 65536 CACHE 1;

------------------------------------------------------------------------------------------------
-- Control tables (cold)
------------------------------------------------------------------------------------------------

CREATE TABLE {{schema}}.queue_meta (
  queue text PRIMARY KEY,
  paused boolean NOT NULL DEFAULT false,
  enqueue_shards smallint NOT NULL DEFAULT 4 CHECK (enqueue_shards BETWEEN 1 AND 64),
  dlq_enabled boolean,
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- Every lane that has ever received a job. Written once per lane, under that lane's enqueue
-- lock, so it never makes producers wait; claims rank only these lanes.
CREATE TABLE {{schema}}.lanes (
  queue text NOT NULL,
  priority smallint NOT NULL,
  enqueue_shard smallint NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (queue, priority, enqueue_shard)
);

CREATE TABLE {{schema}}.ring_config (
  ring text PRIMARY KEY CHECK (ring IN ('queue', 'claim')),
  slot_count smallint NOT NULL
);
INSERT INTO {{schema}}.ring_config VALUES ('queue', 16), ('claim', 8);

-- Append-only ledger; the row with the highest generation is the ring's cursor.
CREATE TABLE {{schema}}.ring_rotations (
  ring text NOT NULL,
  generation bigint NOT NULL,
  slot smallint NOT NULL,
  rotated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (ring, generation)
);
INSERT INTO {{schema}}.ring_rotations (ring, generation, slot) VALUES ('queue', 0, 0), ('claim', 0, 0);

CREATE TABLE {{schema}}.runtime_instances (
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

CREATE TABLE {{schema}}.job_unique_claims (
  unique_key bytea NOT NULL,
  job_id bigint NOT NULL
);
CREATE UNIQUE INDEX idx_awa_jobs_unique ON {{schema}}.job_unique_claims (unique_key);
CREATE INDEX job_unique_claims_job ON {{schema}}.job_unique_claims (job_id);

-- Folded per-queue terminal counts; rows in the ring are counted live until their slot is pruned.
CREATE TABLE {{schema}}.terminal_rollups (
  queue text NOT NULL,
  state {{schema}}.job_state NOT NULL,
  total bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (queue, state)
);
CREATE TABLE {{schema}}.terminal_rollup_deltas (
  queue text NOT NULL,
  state {{schema}}.job_state NOT NULL,
  delta bigint NOT NULL,
  recorded_at timestamptz NOT NULL DEFAULT now()
);

------------------------------------------------------------------------------------------------
-- Ring Q: the queue ring (ready rows and their terminal facts share a slot)
------------------------------------------------------------------------------------------------

CREATE TABLE {{schema}}.ready_entries (
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

CREATE TABLE {{schema}}.ready_tombstones (
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
CREATE TABLE {{schema}}.claim_emissions (
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
CREATE TABLE {{schema}}.done_entries (
  ready_slot smallint NOT NULL,
  job_id bigint NOT NULL,
  run_lease bigint NOT NULL,
  queue text NOT NULL,
  priority smallint NOT NULL,
  state {{schema}}.job_state NOT NULL,
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

CREATE TABLE {{schema}}.claim_batches (
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
  -- Receipts at or above held_from were claimed ahead of free workers (prefetch) and start only
  -- once the runtime records their start; NULL: every receipt of the batch started at claim.
  held_from int,
  PRIMARY KEY (batch_id, claim_slot)
) PARTITION BY LIST (claim_slot);
CREATE INDEX claim_batches_ready_slot ON {{schema}}.claim_batches (ready_slot);
CREATE INDEX claim_batches_deadline ON {{schema}}.claim_batches (deadline_at)
  WHERE deadline_at IS NOT NULL;

-- Every path that ends an attempt appends a closure; receipts are receipt_id(batch_id, index).
-- Each leaf carries an exclusion constraint, so no receipt can be closed twice.
CREATE TABLE {{schema}}.claim_closures (
  claim_slot smallint NOT NULL,
  ready_slot smallint NOT NULL,
  outcome text NOT NULL,
  closed_count integer NOT NULL,
  receipt_ranges int8multirange NOT NULL,
  closed_at timestamptz NOT NULL DEFAULT now()
) PARTITION BY LIST (claim_slot);

-- A row with started = true records that the listed receipts' handlers started (written by
-- record_starts before a held attempt runs); it also counts as a heartbeat.
CREATE TABLE {{schema}}.attempt_heartbeats (
  claim_slot smallint NOT NULL,
  instance_id uuid NOT NULL,
  beat_at timestamptz NOT NULL,
  receipt_ranges int8multirange NOT NULL,
  started boolean NOT NULL DEFAULT false
) PARTITION BY LIST (claim_slot);

DO $$
DECLARE
  s int;
BEGIN
  FOR s IN 0..15 LOOP
    EXECUTE format('CREATE TABLE {{schema}}.ready_entries_%s PARTITION OF {{schema}}.ready_entries FOR VALUES IN (%s)', s, s);
    EXECUTE format('CREATE TABLE {{schema}}.ready_tombstones_%s PARTITION OF {{schema}}.ready_tombstones FOR VALUES IN (%s)', s, s);
    EXECUTE format('CREATE TABLE {{schema}}.claim_emissions_%s PARTITION OF {{schema}}.claim_emissions FOR VALUES IN (%s)', s, s);
    EXECUTE format('CREATE TABLE {{schema}}.done_entries_%s PARTITION OF {{schema}}.done_entries FOR VALUES IN (%s)', s, s);
  END LOOP;
  FOR s IN 0..7 LOOP
    EXECUTE format('CREATE TABLE {{schema}}.claim_batches_%s PARTITION OF {{schema}}.claim_batches FOR VALUES IN (%s)', s, s);
    EXECUTE format('CREATE TABLE {{schema}}.claim_closures_%s PARTITION OF {{schema}}.claim_closures FOR VALUES IN (%s)', s, s);
    EXECUTE format('ALTER TABLE {{schema}}.claim_closures_%s ADD CONSTRAINT claim_closures_%s_once EXCLUDE USING gist (receipt_ranges WITH &&)', s, s);
    EXECUTE format('CREATE TABLE {{schema}}.attempt_heartbeats_%s PARTITION OF {{schema}}.attempt_heartbeats FOR VALUES IN (%s)', s, s);
    EXECUTE format('CREATE INDEX attempt_heartbeats_%s_ranges ON {{schema}}.attempt_heartbeats_%s USING gist (receipt_ranges)', s, s);
  END LOOP;
END
$$;
CREATE INDEX ready_entries_job ON {{schema}}.ready_entries (job_id);
CREATE INDEX claim_closures_ready_slot ON {{schema}}.claim_closures (ready_slot);

------------------------------------------------------------------------------------------------
-- Plain tables: bounded mutable state and backlogs
------------------------------------------------------------------------------------------------

-- Mutable per-attempt state (progress, callbacks); exists only while the attempt is open.
CREATE TABLE {{schema}}.attempt_state (
  job_id bigint NOT NULL,
  run_lease bigint NOT NULL,
  receipt_id bigint NOT NULL,
  claim_slot smallint NOT NULL,
  state {{schema}}.job_state NOT NULL DEFAULT 'running',
  progress jsonb,
  callback_id uuid,
  callback_timeout_at timestamptz,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (job_id, run_lease)
);

CREATE TABLE {{schema}}.deferred_jobs (
  job_id bigint PRIMARY KEY,
  state {{schema}}.job_state NOT NULL CHECK (state IN ('scheduled', 'retryable')),
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
CREATE INDEX deferred_jobs_due ON {{schema}}.deferred_jobs (run_at, priority, job_id);

-- Held jobs: the dead letter queue ('dlq') and terminal failures kept for inspection ('failed').
CREATE TABLE {{schema}}.dlq_entries (
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
CREATE INDEX dlq_entries_queue ON {{schema}}.dlq_entries (queue, held_at);
CREATE INDEX dlq_entries_held ON {{schema}}.dlq_entries (hold_kind, held_at);

CREATE TABLE {{schema}}.schema_version (
  version integer PRIMARY KEY,
  description text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now()
);
