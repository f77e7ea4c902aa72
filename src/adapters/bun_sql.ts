/**
 * Bun's built-in SQL client (`Bun.sql`, `new Bun.SQL(url)`) on Postgres: the client or a
 * transaction of `sql.begin`.
 * @module
 */
import type { AdaptedDb } from "../db/adapted.ts";
import { adapted, requireMethods, rowsOf, withSqlState } from "./shape.ts";

/** The part of Bun's SQL client or transaction the adapter uses. */
export interface BunSqlHandle {
  /** Run a statement with `$1` parameters. */
  unsafe(text: string, params?: never[]): PromiseLike<unknown>;
  /** On the client: run a transaction. */
  begin?: unknown;
  /** On a transaction: run a savepoint (its presence tells a transaction from the client). */
  savepoint?: unknown;
}

/**
 * A server error with its SQLSTATE in `code`, as the other drivers report it: Bun puts its own
 * `ERR_POSTGRES_SERVER_ERROR` in `code` and the SQLSTATE in `errno`.
 */
function serverError(err: unknown): unknown {
  const e = err as { errno?: unknown; message?: unknown; detail?: unknown; constraint?: unknown };
  if (typeof e?.errno !== "string" || !/^[0-9A-Z]{5}$/.test(e.errno)) return err;
  return withSqlState(err, {
    message: e.message,
    code: e.errno,
    detail: e.detail,
    constraint: e.constraint,
  });
}

type BunBegin = <T>(fn: (tx: BunSqlHandle) => Promise<T>) => Promise<T>;

/**
 * Wrap Bun's SQL client or one of its transactions for Awa's producer functions and `migrate`.
 * Inside `sql.begin(async (tx) => …)` the jobs commit or roll back with `tx`; on the client
 * every multi-statement operation runs in a `sql.begin()` of its own. Bun's client cannot COPY,
 * so `insertMany` writes each batch with one multi-row INSERT. Throws `ValidationError` for
 * anything else.
 */
export function fromBunSql(sql: BunSqlHandle): AdaptedDb {
  const h = requireMethods("fromBunSql", "Bun's SQL client or a transaction of it", sql, [
    "unsafe",
  ]) as unknown as BunSqlHandle;
  const inTransaction = typeof h.savepoint === "function";
  if (!inTransaction) {
    requireMethods("fromBunSql", "Bun's SQL client or a transaction of it", sql, ["begin"]);
  }
  const client = h as { begin: BunBegin };
  return adapted(
    "bun-sql",
    h,
    async (text, params) => {
      try {
        return rowsOf(await h.unsafe(text, params as never[]));
      } catch (err) {
        throw serverError(err);
      }
    },
    inTransaction ? null : (fn) => client.begin((tx) => fn(fromBunSql(tx))),
  );
}
