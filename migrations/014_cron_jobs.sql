-- Cron schedules (docs/cron.md). Runtimes upsert the schedules they declare (never delete); the
-- maintenance leader fires them by advancing last_enqueued_at with a compare-and-swap in the
-- statement that inserts the job, so two leaders can never enqueue one fire twice.
CREATE TABLE {{schema}}.cron_jobs (
  name text PRIMARY KEY CHECK (length(name) BETWEEN 1 AND 200),
  cron_expr text NOT NULL CHECK (length(cron_expr) BETWEEN 1 AND 200),
  timezone text NOT NULL DEFAULT 'UTC' CHECK (length(timezone) BETWEEN 1 AND 100),
  kind text NOT NULL,
  queue text NOT NULL DEFAULT 'default',
  args jsonb NOT NULL DEFAULT '{}',
  priority smallint NOT NULL DEFAULT 2 CHECK (priority BETWEEN 1 AND 4),
  max_attempts smallint NOT NULL DEFAULT 25 CHECK (max_attempts BETWEEN 1 AND 1000),
  tags text[] NOT NULL DEFAULT '{}',
  metadata jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object'),
  missed_fire_policy text NOT NULL DEFAULT 'coalesce'
    CHECK (missed_fire_policy IN ('coalesce', 'catch_up')),
  -- The latest fire enqueued; null until the first. Only fire_cron_job moves it.
  last_enqueued_at timestamptz,
  paused_at timestamptz,
  paused_by text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
