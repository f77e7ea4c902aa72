/**
 * Kysely (0.27 and later, on a Postgres dialect): a `Kysely` instance or a `Transaction`.
 * @module
 */
import type { AdaptedDb } from "../db/adapted.ts";
import { adapted, requireMethods, rowsOf } from "./shape.ts";

/** The part of a Kysely instance or `Transaction` the adapter uses. */
export interface KyselyHandle {
  /** True on a `Transaction`. */
  readonly isTransaction: boolean;
  /** Kysely's `executeQuery` of a compiled query. */
  executeQuery(query: never): PromiseLike<unknown>;
  /** Kysely's transaction builder. */
  transaction(): { execute<T>(fn: (trx: unknown) => Promise<T>): Promise<T> };
}

/** A compiled raw query in the shape Kysely's executor runs. */
function compiled(sql: string, parameters: unknown[]) {
  return {
    sql,
    parameters,
    query: { kind: "RawNode", sqlFragments: [sql], parameters: [] },
    queryId: { queryId: "awa" },
  };
}

/**
 * Wrap a Kysely instance or `Transaction` for Awa's producer functions and `migrate`. Inside a
 * `Transaction` the jobs commit or roll back with it; on an instance every multi-statement
 * operation runs in a `db.transaction()` of its own. Statements go through `executeQuery`, so
 * Kysely's logging sees them. Throws `ValidationError` for anything else.
 */
export function fromKysely(db: KyselyHandle): AdaptedDb {
  const h = requireMethods("fromKysely", "a Kysely instance or Transaction", db, [
    "executeQuery",
    "transaction",
  ]) as unknown as KyselyHandle;
  return adapted(
    "kysely",
    h,
    async (text, params) => rowsOf(await h.executeQuery(compiled(text, params) as never)),
    h.isTransaction
      ? null
      : (fn) => h.transaction().execute((trx) => fn(fromKysely(trx as KyselyHandle))),
  );
}
