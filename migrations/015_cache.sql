-- The TTL cache (src/cache/, docs/cache.md). UNLOGGED: writes skip the WAL, so the table is
-- emptied after a crash and is not replicated to standbys; a cache may lose everything.
--
-- A row is either a value (value set, lease null) or a load lease (value null, lease set): the
-- getOrSet call that first missed the key holds the key while its loader runs, so the other
-- processes wait for its value instead of loading too. Either kind lives until expires_at; a
-- row past it is absent to every read and may be replaced, and the maintenance leader deletes
-- such rows in batches (src/maintenance/cache_sweep.ts).
CREATE UNLOGGED TABLE {{schema}}.cache_entries (
  namespace  text        NOT NULL,
  key        text        NOT NULL,
  value      jsonb,
  lease      uuid,
  expires_at timestamptz NOT NULL,
  PRIMARY KEY (namespace, key),
  CONSTRAINT cache_entry_value_or_lease CHECK ((value IS NULL) <> (lease IS NULL))
);

-- The sweep deletes the oldest expired rows first.
CREATE INDEX cache_entries_expires_at ON {{schema}}.cache_entries (expires_at);
