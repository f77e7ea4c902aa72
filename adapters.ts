/**
 * Adapters for the database handles an application already holds, so jobs are inserted in the
 * same transaction as its own writes: node-postgres (`fromPg`), Kysely, Drizzle, Knex, Bun's
 * built-in SQL and Prisma. Each adapted handle works with `insert`, `insertMany`,
 * `cancelByUniqueKey` and `migrate`; a `Client` (the worker side) takes a postgres.js pool or a
 * URL. See `docs/adapters.md`.
 * @module
 */
export { type AdaptedDb } from "./src/db/adapted.ts";
export {
  type Db,
  fromPg,
  type FromPgOptions,
  type PgCopyFrom,
  type PgCopyStream,
  type PgExecutor,
  type PgNotification,
  type PgPool,
  type PgPoolClient,
  type PgQueryable,
} from "./src/db/executor.ts";
export { fromKysely, type KyselyHandle } from "./src/adapters/kysely.ts";
export { type DrizzleHandle, fromDrizzle } from "./src/adapters/drizzle.ts";
export { fromKnex, type KnexHandle } from "./src/adapters/knex.ts";
export { type BunSqlHandle, fromBunSql } from "./src/adapters/bun_sql.ts";
export { fromPrisma, type PrismaHandle } from "./src/adapters/prisma.ts";
