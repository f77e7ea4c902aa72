-- Waiters of insertAndWait and waitForJob (src/results/, docs/results.md). A caller that waits
-- for a job's outcome registers a row here; the transition that ends the job (finalize_attempts,
-- cancel_job) sends a NOTIFY on the schema's '@result' channel for each job that has one, in its
-- own transaction, and deletes the job's rows; jobs nobody waits for cost one probe of an empty
-- table per statement. A waiter that stops early (timeout, abort) deletes its own row;
-- `expires_at` bounds rows a crashed waiter left behind, which the next registration deletes.
--
-- UNLOGGED: a row only speeds a waiter up (every waiter also polls the job's state), so rows
-- lost in a crash cost latency, never an outcome; registering then writes no WAL.
CREATE UNLOGGED TABLE {{schema}}.job_waiters (
  job_id     bigint      NOT NULL,
  waiter     uuid        NOT NULL,
  expires_at timestamptz NOT NULL,
  PRIMARY KEY (job_id, waiter)
);

CREATE INDEX job_waiters_expires_at ON {{schema}}.job_waiters (expires_at);
