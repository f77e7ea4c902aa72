/**
 * Schema migrations (docs/migrations.md): numbered, append-only table migrations, then the
 * function and view files of `src/sql/` re-applied when their text changes, all in one
 * transaction serialised across processes by an advisory lock. The installed version is in
 * `<schema>.schema_version`, the minimum runtime version in `<schema>.runtime_requirements`.
 * @module
 */
import { type Db, type Executor, toExecutor } from "./db/executor.ts";
import { pgErrorInfo } from "./db/classify.ts";
import {
  RuntimeTooOldError,
  SchemaMissingError,
  SchemaTooNewError,
  SchemaTooOldError,
} from "./errors.ts";
import { type Migration, MIGRATIONS, SQL_FILES, type SqlFile } from "./migrations_embedded.ts";
import { checkSchema } from "./schema.ts";
import { applySqlFiles, dropStatement, renderFiles } from "./sql/apply.ts";
import { type Drop, DROPS, MIN_RUNTIME_VERSION } from "./sql/breaking.ts";
import { compareVersions } from "./sql/versions.ts";
import {
  installedState,
  lockMigrations,
  readRuntimeRequirements,
  recordSchemaVersion,
  writeRuntimeRequirements,
} from "./storage/schema.ts";
import { render, storeOf } from "./storage/store.ts";
import { checkOptions } from "./validate.ts";
import { toDatabaseError } from "./db/classify.ts";
import { VERSION } from "./version.ts";

const MIGRATE_KEYS: ReadonlySet<string> = new Set(["schema"]);

/** Options for {@link migrate}. */
export interface MigrateOptions {
  /** Schema to install into. Default `"awa"`. */
  schema?: string;
}

/** Result of {@link migrate}. */
export interface MigrateResult {
  /** Version before the call (0 for a fresh database). */
  from: number;
  /** Version after the call. */
  to: number;
  /** Versions applied by this call. */
  applied: number[];
  /** Function and view files (paths under src/sql/ without `.sql`) (re)applied by this call. */
  sqlFiles: string[];
}

/** Everything one release of @awa/awa installs, and the versions it requires. */
export interface Release {
  /** Table migrations in order; the first is the baseline, standing for all before it. */
  migrations: readonly Migration[];
  files: readonly SqlFile[];
  drops: readonly Drop[];
  minRuntimeVersion: string;
  /** The release's own version. */
  version: string;
}

/** This release. */
export const THIS_RELEASE: Release = {
  migrations: MIGRATIONS,
  files: SQL_FILES,
  drops: DROPS,
  minRuntimeVersion: MIN_RUNTIME_VERSION,
  version: VERSION,
};

/** Highest migration version this code knows. */
export const SCHEMA_VERSION: number = MIGRATIONS[MIGRATIONS.length - 1].version;

/**
 * Everything {@link migrate} would run on a fresh database, for review: the migrations, then
 * every function and view file (each after the drops listed for it). Bodies are not checked
 * while the files are applied (a function may call one defined further down).
 */
export function migrationSql(options: MigrateOptions = {}): string {
  const o = checkOptions<MigrateOptions>(options, "options", MIGRATE_KEYS);
  const schema = checkSchema(o.schema);
  const migrations = MIGRATIONS.map((m) =>
    `-- migration ${m.version}_${m.name}\n${render(m.sql, schema)}`
  );
  const files = renderFiles(SQL_FILES, schema).map((f) => {
    const drops = DROPS.filter((d) => d.file === f.file)
      .map((d) => `${dropStatement(d, schema)};\n`).join("");
    return `-- src/sql/${f.file}.sql\n${drops}${f.sql}`;
  });
  return [...migrations, "SET check_function_bodies = off;\n", ...files].join("\n");
}

/**
 * Bring the Awa schema up to date: pending table migrations, then every function and view file
 * whose text changed, in one transaction. Safe to call from many processes at once: the first
 * takes an advisory lock and applies; the others wait, then find nothing to do. Throws
 * {@link SchemaTooNewError} when the database is ahead of this code, {@link SchemaTooOldError}
 * when it is older than this release's baseline, and {@link RuntimeTooOldError} when a newer
 * @awa/awa already migrated it.
 */
export async function migrate(db: Db, options: MigrateOptions = {}): Promise<MigrateResult> {
  const o = checkOptions<MigrateOptions>(options, "options", MIGRATE_KEYS);
  return await migrateRelease(db, checkSchema(o.schema), THIS_RELEASE);
}

/** {@link migrate} as `release` would run it (tests stand in other releases with it). */
export async function migrateRelease(
  db: Db,
  schema: string,
  release: Release,
): Promise<MigrateResult> {
  return await toExecutor(db).atomic((tx) => applyRelease(tx, schema, release)).catch((err) => {
    throw toDatabaseError(err, `migrate (schema "${schema}")`);
  });
}

/** Apply `release` inside `tx`, serialised by a transaction-scoped advisory lock. */
async function applyRelease(
  tx: Executor,
  schema: string,
  release: Release,
): Promise<MigrateResult> {
  const store = storeOf(tx, schema);
  await lockMigrations(store);
  const from = Math.max(0, (await installedState(store)).version);
  const { migrations } = release;
  const baseline = migrations[0].version;
  const latest = migrations[migrations.length - 1].version;
  if (from > latest) throw new SchemaTooNewError(schema, from, latest);
  if (from > 0 && from < baseline) {
    throw new SchemaTooOldError(schema, from, latest, { baseline });
  }
  const applied: number[] = [];
  for (const m of migrations) {
    if (m.version <= from) continue;
    await tx.query(render(m.sql, schema));
    await recordSchemaVersion(store, m.version, m.name);
    applied.push(m.version);
  }
  const req = await readRuntimeRequirements(store);
  if (req && compareVersions(req.by, release.version) > 0) {
    throw new RuntimeTooOldError(schema, req.by, release.version, "migrate it");
  }
  const sqlFiles = await applySqlFiles(tx, schema, release.files, release.drops);
  if (req?.min !== release.minRuntimeVersion || req?.by !== release.version) {
    await writeRuntimeRequirements(store, release.minRuntimeVersion, release.version);
  }
  return { from, to: Math.max(from, latest), applied, sqlFiles };
}

/** Current schema version of the database, or 0 when Awa is not installed. */
export async function schemaVersion(db: Db, options: MigrateOptions = {}): Promise<number> {
  const o = checkOptions<MigrateOptions>(options, "options", MIGRATE_KEYS);
  const schema = checkSchema(o.schema);
  const { version } = await installedState(storeOf(toExecutor(db), schema)).catch((err) => {
    throw toDatabaseError(err, "schemaVersion");
  });
  return Math.max(0, version);
}

/** Database handles (and the schemas on them) already found usable by this code. */
const verified = new WeakMap<object, Set<string>>();

/**
 * Refuse to run against a schema this code cannot use: {@link SchemaMissingError} when Awa is not
 * installed there, {@link SchemaTooOldError} / {@link SchemaTooNewError} when its version is not
 * {@link SCHEMA_VERSION}, {@link RuntimeTooOldError} when it records a minimum runtime version
 * above this release's. A successful check is remembered per database handle (a postgres.js
 * `Sql` or transaction, a node-postgres pool or client), so producers pay the round trip once.
 */
export async function requireSchema(
  ex: Executor,
  schema: string,
  options: { cached?: boolean } = {},
): Promise<void> {
  const cached = options.cached ?? true;
  if (cached && verified.get(ex.identity)?.has(schema)) return;
  const { version: v, minRuntimeVersion: min } = await installedState(storeOf(ex, schema));
  if (v < 0) throw new SchemaMissingError(schema);
  if (v < SCHEMA_VERSION) throw new SchemaTooOldError(schema, v, SCHEMA_VERSION);
  if (min !== null && compareVersions(min, VERSION) > 0) {
    throw new RuntimeTooOldError(schema, min, VERSION, "run against it");
  }
  if (v > SCHEMA_VERSION) throw new SchemaTooNewError(schema, v, SCHEMA_VERSION);
  let set = verified.get(ex.identity);
  if (!set) verified.set(ex.identity, set = new Set());
  set.add(schema);
}

/** SQLSTATEs meaning the schema, one of its tables or one of its functions is gone. */
const MISSING_OBJECT_CODES = new Set(["3F000", "42P01", "42883"]);

/**
 * Map an error raised because the schema vanished after it was verified (dropped, or never
 * there) to {@link SchemaMissingError}, forgetting the cached check; other errors pass through.
 */
export function mapMissingSchema(err: unknown, ex: Executor, schema: string): unknown {
  const { code } = pgErrorInfo(err);
  if (code === undefined || !MISSING_OBJECT_CODES.has(code)) return err;
  verified.get(ex.identity)?.delete(schema);
  return new SchemaMissingError(schema, { cause: err });
}
