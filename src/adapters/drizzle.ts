/**
 * Drizzle ORM on Postgres (the node-postgres, postgres.js and Bun SQL drivers): a database or a
 * transaction.
 * @module
 */
import type { Sql } from "postgres";
import type { AdaptedDb } from "../db/adapted.ts";
import type { Db } from "../db/executor.ts";
import { adapted, requireMethods, rowsOf } from "./shape.ts";

/** The part of a Drizzle Postgres database or transaction the adapter uses. */
export interface DrizzleHandle {
  /** Drizzle's `execute` of an SQL chunk. */
  execute(query: never): PromiseLike<unknown>;
  /** Drizzle's `transaction`: a transaction on a database, a savepoint on a transaction. */
  transaction<T>(fn: (tx: unknown) => Promise<T>): Promise<T>;
}

/** One statement with its parameters, in the shape Drizzle's `execute` builds a query from. */
function statement(sql: string, params: unknown[]) {
  const chunk = { toQuery: () => ({ sql, params }) };
  return { getSQL: () => chunk };
}

/** The postgres.js handle under a Drizzle postgres.js session, which can COPY. */
function postgresJsClient(h: object): Sql | null {
  const client = (h as { session?: { client?: unknown } }).session?.client;
  return typeof client === "function" && typeof (client as Sql).unsafe === "function" &&
      typeof (client as Sql).typed === "function"
    ? client as Sql
    : null;
}

/**
 * The driver's own error under Drizzle's wrapper (`DrizzleQueryError`, which adds the query to
 * the message), so Awa reads its SQLSTATE and constraint as with any other driver.
 */
function driverError(err: unknown): unknown {
  const cause = (err as { cause?: { code?: unknown } } | null)?.cause;
  return (err as { code?: unknown }).code === undefined && typeof cause?.code === "string"
    ? cause
    : err;
}

/**
 * Wrap a Drizzle database or transaction for Awa's producer functions and `migrate`. Inside a
 * transaction (`db.transaction(async (tx) => …)`) the jobs commit or roll back with it; on a
 * database every multi-statement operation runs in a `db.transaction()` of its own. With the
 * postgres.js driver, Awa uses the postgres.js handle underneath (the pool, or the
 * transaction's own connection), so `insertMany` streams each batch with COPY; with the other
 * drivers each batch is one multi-row INSERT. Throws `ValidationError` for anything else.
 */
export function fromDrizzle(db: DrizzleHandle): Db {
  const h = requireMethods("fromDrizzle", "a Drizzle Postgres database or transaction", db, [
    "execute",
    "transaction",
  ]) as unknown as DrizzleHandle;
  const postgresJs = postgresJsClient(h);
  if (postgresJs) return postgresJs;
  // A Drizzle transaction is the one with `rollback()`.
  const inTransaction = typeof (h as { rollback?: unknown }).rollback === "function";
  return adapted(
    "drizzle",
    h,
    async (text, params) => {
      try {
        return rowsOf(await h.execute(statement(text, params) as never));
      } catch (err) {
        throw driverError(err);
      }
    },
    inTransaction
      ? null
      : (fn) => h.transaction((tx) => fn(fromDrizzle(tx as DrizzleHandle) as AdaptedDb)),
  );
}
