-- The TTL cache (src/cache/, docs/cache.md). UNLOGGED: writes skip the WAL, so the table is
-- emptied after a crash and is not replicated to standbys; a cache may lose everything. Rows
-- are keyed by namespace and key; a row whose expires_at has passed is treated as absent by
-- every read and removed in batches by the maintenance leader (src/maintenance/cache_sweep.ts).
CREATE UNLOGGED TABLE {{schema}}.cache_entries (
  namespace  text        NOT NULL,
  key        text        NOT NULL,
  value      jsonb       NOT NULL,
  expires_at timestamptz NOT NULL,
  PRIMARY KEY (namespace, key)
);

-- The sweep deletes the oldest expired rows first.
CREATE INDEX cache_entries_expires_at ON {{schema}}.cache_entries (expires_at);
