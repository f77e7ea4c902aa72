/**
 * Schema migrations: idempotent, serialised across processes by an advisory lock, versioned in
 * `<schema>.schema_version`.
 * @module
 */
import { type Db, toExecutor } from "./executor.ts";
import { SchemaTooNewError } from "./errors.ts";
import { MIGRATIONS } from "./migrations_embedded.ts";
import { checkSchema, inSchema } from "./schema.ts";

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
  const schema = checkSchema(options.schema);
  return MIGRATIONS.map((m) => `-- ${m.version}_${m.name}\n${inSchema(m.sql, schema)}`).join("\n");
}

/**
 * Bring the Awa schema up to date. Safe to call from many processes at once: the first takes an
 * advisory lock and applies pending migrations in one transaction; the others wait, then find
 * nothing to do. Throws {@link SchemaTooNewError} when the database is ahead of this code.
 */
export async function migrate(db: Db, options: MigrateOptions = {}): Promise<MigrateResult> {
  const schema = checkSchema(options.schema);
  const ex = toExecutor(db);
  return await ex.atomic(async (tx) => {
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
  });
}

/** Current schema version of the database, or 0 when Awa is not installed. */
export async function schemaVersion(db: Db, options: MigrateOptions = {}): Promise<number> {
  const schema = checkSchema(options.schema);
  const ex = toExecutor(db);
  const [{ exists }] = await ex.query<{ exists: boolean }>(
    "SELECT to_regclass($1) IS NOT NULL AS exists",
    [`${schema}.schema_version`],
  );
  if (!exists) return 0;
  const [row] = await ex.query<{ v: number | null }>(
    `SELECT max(version)::int AS v FROM ${schema}.schema_version`,
  );
  return row.v ?? 0;
}
