/**
 * The installer's bookkeeping: the schema version, the runtime requirements and the digests of
 * applied SQL files (migrate(), requireSchema, src/sql/apply.ts).
 * @module
 */
import type { Store } from "./store.ts";

/** Installed version (-1 without a version table, 0 when empty) and minimum runtime version. */
export interface InstalledState {
  version: number;
  /** Null before migration 10 recorded one. */
  minRuntimeVersion: string | null;
}

/**
 * Read {@link InstalledState} in one round trip. The tables may not exist, so their names cannot
 * appear in the statement itself: `query_to_xml` runs the inner query only in the branch where
 * `to_regclass` found the table.
 */
export async function installedState(store: Store): Promise<InstalledState> {
  const [row] = await store.run<{ v: number | null; m: string | null }>(
    "installedState",
    `SELECT CASE WHEN to_regclass($1) IS NULL THEN -1 ELSE coalesce((xpath('/row/v/text()',
      query_to_xml(format('SELECT max(version) AS v FROM %s', to_regclass($1)), false, true, '')
    ))[1]::text::int, 0) END AS v,
    CASE WHEN to_regclass($2) IS NOT NULL THEN (xpath('/row/m/text()', query_to_xml(
      format('SELECT min_runtime_version AS m FROM %s', to_regclass($2)), false, true, '')
    ))[1]::text END AS m`,
    [`${store.schema}.schema_version`, `${store.schema}.runtime_requirements`],
  );
  return { version: Number(row.v), minRuntimeVersion: row.m };
}

/** Serialise migrations of one schema until the end of the transaction. */
export async function lockMigrations(store: Store): Promise<void> {
  await store.run("lockMigrations", "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", [
    `awa-migrate:${store.schema}`,
  ]);
}

/** Record that migration `version` (named `name`) has been applied. */
export async function recordSchemaVersion(
  store: Store,
  version: number,
  name: string,
): Promise<void> {
  await store.run(
    "recordSchemaVersion",
    "INSERT INTO {{schema}}.schema_version (version, description) VALUES ($1, $2)",
    [version, name],
  );
}

/** The recorded minimum runtime version and the release that last migrated, if any. */
export async function readRuntimeRequirements(
  store: Store,
): Promise<{ min: string; by: string } | undefined> {
  const [row] = await store.run<{ min: string; by: string }>(
    "readRuntimeRequirements",
    "SELECT min_runtime_version AS min, migrated_by AS by FROM {{schema}}.runtime_requirements",
  );
  return row;
}

/** Record the minimum runtime version `min` and the migrating release `by`. */
export async function writeRuntimeRequirements(
  store: Store,
  min: string,
  by: string,
): Promise<void> {
  await store.run(
    "writeRuntimeRequirements",
    `INSERT INTO {{schema}}.runtime_requirements (min_runtime_version, migrated_by) VALUES ($1, $2)
     ON CONFLICT (singleton) DO UPDATE SET min_runtime_version = excluded.min_runtime_version,
       migrated_by = excluded.migrated_by, updated_at = now()`,
    [min, by],
  );
}

/** Digest of every applied SQL file, by file. */
export async function readSqlFileDigests(store: Store): Promise<Map<string, string>> {
  const rows = await store.run<{ file: string; digest: string }>(
    "readSqlFileDigests",
    "SELECT file, digest FROM {{schema}}.sql_file_digests",
  );
  return new Map(rows.map((r) => [r.file, r.digest]));
}

/** Record the digests of files just applied. Lists travel as JSON text (see apply.ts). */
export async function recordSqlFileDigests(
  store: Store,
  files: { file: string; digest: string }[],
): Promise<void> {
  await store.run(
    "recordSqlFileDigests",
    `INSERT INTO {{schema}}.sql_file_digests (file, digest)
     SELECT x.file, x.digest FROM jsonb_to_recordset($1::text::jsonb) AS x(file text, digest text)
     ON CONFLICT (file) DO UPDATE SET digest = excluded.digest, applied_at = now()`,
    [JSON.stringify(files)],
  );
}

/** Forget the digests of files that no longer exist. */
export async function forgetSqlFileDigests(store: Store, files: string[]): Promise<void> {
  await store.run(
    "forgetSqlFileDigests",
    `DELETE FROM {{schema}}.sql_file_digests
     WHERE file IN (SELECT jsonb_array_elements_text($1::text::jsonb))`,
    [JSON.stringify(files)],
  );
}
