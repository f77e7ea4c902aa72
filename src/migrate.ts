/**
 * Schema migrations: idempotent, serialised across processes by an advisory lock, versioned in
 * `<schema>.schema_version`.
 * @module
 */
import { type Db, type Executor, pgErrorInfo, toExecutor } from "./db/executor.ts";
import { SchemaMissingError, SchemaTooNewError, SchemaTooOldError } from "./errors.ts";
import { MIGRATIONS } from "./migrations_embedded.ts";
import { checkSchema, inSchema } from "./schema.ts";
import { checkOptions } from "./validate.ts";
import { toDatabaseError } from "./db/classify.ts";

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
}

/** Highest migration version this code knows. */
export const SCHEMA_VERSION: number = MIGRATIONS[MIGRATIONS.length - 1].version;

/** The migration SQL for a schema, for review or for running with another tool. */
export function migrationSql(options: MigrateOptions = {}): string {
  const o = checkOptions<MigrateOptions>(options, "options", MIGRATE_KEYS);
  const schema = checkSchema(o.schema);
  return MIGRATIONS.map((m) => `-- ${m.version}_${m.name}\n${inSchema(m.sql, schema)}`).join("\n");
}

/**
 * Bring the Awa schema up to date. Safe to call from many processes at once: the first takes an
 * advisory lock and applies pending migrations in one transaction; the others wait, then find
 * nothing to do. Throws {@link SchemaTooNewError} when the database is ahead of this code.
 */
export async function migrate(db: Db, options: MigrateOptions = {}): Promise<MigrateResult> {
  const o = checkOptions<MigrateOptions>(options, "options", MIGRATE_KEYS);
  const schema = checkSchema(o.schema);
  const ex = toExecutor(db);
  return await ex.atomic((tx) => applyMigrations(tx, schema)).catch((err) => {
    throw toDatabaseError(err, `migrate (schema "${schema}")`);
  });
}

/** Apply pending migrations inside `tx`, serialised by a transaction-scoped advisory lock. */
async function applyMigrations(tx: Executor, schema: string): Promise<MigrateResult> {
  await tx.query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", [
    `awa-migrate:${schema}`,
  ]);
  const [{ exists }] = await tx.query<{ exists: boolean }>(
    "SELECT to_regclass($1) IS NOT NULL AS exists",
    [`${schema}.schema_version`],
  );
  let from = 0;
  if (exists) {
    const [row] = await tx.query<{ v: number | null }>(
      `SELECT max(version)::int AS v FROM ${schema}.schema_version`,
    );
    from = row.v ?? 0;
  }
  if (from > SCHEMA_VERSION) throw new SchemaTooNewError(schema, from, SCHEMA_VERSION);
  const applied: number[] = [];
  for (const m of MIGRATIONS) {
    if (m.version <= from) continue;
    await tx.query(inSchema(m.sql, schema));
    await tx.query(
      `INSERT INTO ${schema}.schema_version (version, description) VALUES ($1, $2)`,
      [m.version, m.name],
    );
    applied.push(m.version);
  }
  return { from, to: Math.max(from, SCHEMA_VERSION), applied };
}

/** Current schema version of the database, or 0 when Awa is not installed. */
export async function schemaVersion(db: Db, options: MigrateOptions = {}): Promise<number> {
  const o = checkOptions<MigrateOptions>(options, "options", MIGRATE_KEYS);
  const schema = checkSchema(o.schema);
  const version = await installedVersion(toExecutor(db), schema).catch((err) => {
    throw toDatabaseError(err, "schemaVersion");
  });
  return Math.max(0, version);
}

/**
 * Installed version of `schema` in one round trip: -1 when it has no version table, 0 when the
 * table is empty. The table may not exist, so its name cannot appear in the statement itself:
 * `query_to_xml` runs the inner query only in the branch where `to_regclass` found it.
 */
async function installedVersion(ex: Executor, schema: string): Promise<number> {
  const [row] = await ex.query<{ v: number | null }>(
    `SELECT CASE WHEN to_regclass($1) IS NULL THEN -1 ELSE coalesce((xpath('/row/v/text()',
      query_to_xml(format('SELECT max(version) AS v FROM %s', to_regclass($1)), false, true, '')
    ))[1]::text::int, 0) END AS v`,
    [`${schema}.schema_version`],
  );
  return Number(row.v);
}

/** Database handles (and the schemas on them) already found at {@link SCHEMA_VERSION}. */
const verified = new WeakMap<object, Set<string>>();

/**
 * Refuse to run against a schema this code cannot use: {@link SchemaMissingError} when Awa is not
 * installed there, {@link SchemaTooOldError} / {@link SchemaTooNewError} when its version is not
 * {@link SCHEMA_VERSION}. A successful check is remembered per database handle (a postgres.js
 * `Sql` or transaction, a node-postgres pool or client), so producers pay the round trip once.
 */
export async function requireSchema(
  ex: Executor,
  schema: string,
  options: { cached?: boolean } = {},
): Promise<void> {
  const cached = options.cached ?? true;
  if (cached && verified.get(ex.identity)?.has(schema)) return;
  const v = await installedVersion(ex, schema);
  if (v < 0) throw new SchemaMissingError(schema);
  if (v < SCHEMA_VERSION) throw new SchemaTooOldError(schema, v, SCHEMA_VERSION);
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
