-- Fleet-wide flow control (docs/concurrency-keys.md): per-key concurrency limits and rate limits
-- of a queue, kept in the database so every process and the SQL contract agree.
--
-- queue_flow: one row per queue that has a limit. per_key caps the jobs of one concurrency key
-- that are admitted at once (ready, running, retrying or snoozed); a job's own limit
-- (metadata "awa:per_key") applies when per_key is null. rate_count per rate_interval_ms is the
-- fleet-wide token bucket that claim_batch draws from; tokens and refilled_at are its state,
-- written by claims of that queue only.
CREATE TABLE {{schema}}.queue_flow (
  queue text PRIMARY KEY,
  per_key int CHECK (per_key BETWEEN 1 AND 100000),
  rate_count int CHECK (rate_count BETWEEN 1 AND 1000000000),
  rate_interval_ms int CHECK (rate_interval_ms BETWEEN 1 AND 86400000),
  tokens double precision NOT NULL DEFAULT 0,
  refilled_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  CONSTRAINT queue_flow_rate_pair CHECK ((rate_count IS NULL) = (rate_interval_ms IS NULL))
);

-- Admitted keyed jobs: at most the key's limit rows per (queue, concurrency_key). A row lives
-- from admission until the job reaches a terminal state, so a retrying or snoozed job keeps its
-- key's slot. Live rows are bounded by admitted keyed jobs; each job leaves one dead version.
CREATE TABLE {{schema}}.key_admissions (
  job_id bigint PRIMARY KEY,
  queue text NOT NULL,
  concurrency_key text NOT NULL,
  admitted_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX key_admissions_key ON {{schema}}.key_admissions (queue, concurrency_key);

-- Keyed jobs waiting for their key: a backlog plane like deferred_jobs (a row is deleted when
-- the job is admitted). seq is taken under the key's lock, so it is the key's admission order.
CREATE SEQUENCE {{schema}}.key_waiting_seq;
CREATE TABLE {{schema}}.key_waiting (
  queue text NOT NULL,
  concurrency_key text NOT NULL,
  seq bigint NOT NULL,
  job_id bigint NOT NULL UNIQUE,
  per_key int,
  priority smallint NOT NULL,
  kind text NOT NULL,
  args jsonb NOT NULL,
  attempt smallint NOT NULL,
  run_lease bigint NOT NULL,
  max_attempts smallint NOT NULL,
  created_at timestamptz NOT NULL,
  waiting_since timestamptz NOT NULL DEFAULT clock_timestamp(),
  tags text[] NOT NULL,
  metadata jsonb NOT NULL,
  errors jsonb,
  progress jsonb,
  unique_key bytea,
  unique_states bit(8),
  PRIMARY KEY (queue, concurrency_key, seq)
);
