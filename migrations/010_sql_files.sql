-- What migrate() needs to re-apply SQL files and to keep old runtimes away (docs/migrations.md).

-- One row per function or view file of src/sql/ applied to this schema, with the sha256 of the
-- rendered text that was run. migrate() re-applies a file whose digest differs.
CREATE TABLE {{schema}}.sql_file_digests (
  file text PRIMARY KEY,
  digest text NOT NULL CHECK (digest ~ '^[0-9a-f]{64}$'),
  applied_at timestamptz NOT NULL DEFAULT now()
);

-- One row: the oldest @awa/awa version whose runtime and producers may use this schema, and the
-- version whose migrate() last applied the SQL files. Runtimes older than min_runtime_version
-- refuse to start (RuntimeTooOldError); migrate() of a version older than migrated_by refuses to
-- put its older functions back. Versions are MAJOR.MINOR.PATCH[-prerelease][+build].
CREATE TABLE {{schema}}.runtime_requirements (
  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  min_runtime_version text NOT NULL
    CHECK (min_runtime_version ~ '^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+.*)?$'),
  migrated_by text NOT NULL CHECK (migrated_by ~ '^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+.*)?$'),
  updated_at timestamptz NOT NULL DEFAULT now()
);
