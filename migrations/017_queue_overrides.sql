-- Live overrides of a queue's worker settings (admin setQueueOverrides, docs/flow-control.md):
-- every running Client reads the rows of its queues every few seconds and applies them over
-- its code config. NULL leaves the code config in force; a row with every field NULL is
-- deleted. The checks mirror the limits the Client validates, so no reader has to distrust a
-- stored value.
CREATE TABLE {{schema}}.queue_overrides (
  queue            text        PRIMARY KEY,
  poll_interval_ms integer     CHECK (poll_interval_ms BETWEEN 10 AND 3600000),
  claim_batch_size integer     CHECK (claim_batch_size BETWEEN 1 AND 4096),
  rate_per_second  double precision CHECK (rate_per_second BETWEEN 0.001 AND 1000000),
  rate_burst       integer     CHECK (rate_burst BETWEEN 1 AND 1000000),
  deadline_ms      integer     CHECK (deadline_ms BETWEEN 1 AND 86400000),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT queue_overrides_burst_needs_rate CHECK (rate_burst IS NULL OR rate_per_second IS NOT NULL)
);
