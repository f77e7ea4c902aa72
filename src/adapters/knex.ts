/**
 * Knex with the `pg` client: an instance or a transaction.
 * @module
 */
import type { AdaptedDb } from "../db/adapted.ts";
import { ValidationError } from "../errors.ts";
import { describe } from "../validate.ts";
import { adapted, requireMethods, rowsOf } from "./shape.ts";

/** The part of a Knex instance or transaction the adapter uses. */
export interface KnexHandle {
  /** True on a transaction. */
  readonly isTransaction?: boolean;
  /** Knex's connection manager: a transaction's hands out the transaction's connection. */
  readonly client: unknown;
  /** Knex's `transaction`. */
  transaction<T>(fn: (trx: unknown) => Promise<T>): Promise<T>;
}

interface KnexClient {
  acquireConnection(): Promise<{ query(text: string, params: unknown[]): Promise<unknown> }>;
  releaseConnection(connection: unknown): Promise<unknown>;
}

/**
 * Wrap a Knex instance or transaction (client `pg`) for Awa's producer functions and `migrate`.
 * Inside a transaction (`knex.transaction(async (trx) => …)`) the jobs commit or roll back with
 * it; on an instance every multi-statement operation runs in a `knex.transaction()` of its own.
 * Awa's statements carry `$1` parameters, which Knex's `raw` would rewrite, so they go to the
 * node-postgres connection Knex holds (for a transaction, the transaction's own connection).
 * Throws `ValidationError` for anything else.
 */
export function fromKnex(knex: KnexHandle): AdaptedDb {
  const h = requireMethods("fromKnex", "a Knex instance or transaction", knex, [
    "transaction",
  ]) as unknown as KnexHandle;
  const client = h.client as Partial<KnexClient> | null;
  if (
    typeof client?.acquireConnection !== "function" ||
    typeof client.releaseConnection !== "function"
  ) {
    throw new ValidationError(
      "db",
      `fromKnex expects a Knex instance or transaction, got ${describe(knex)} without a client`,
    );
  }
  const pool = client as KnexClient;
  return adapted(
    "knex",
    h,
    async (text, params) => {
      const connection = await pool.acquireConnection();
      try {
        return rowsOf(await connection.query(text, params));
      } finally {
        await pool.releaseConnection(connection);
      }
    },
    h.isTransaction === true
      ? null
      : (fn) => h.transaction((trx) => fn(fromKnex(trx as KnexHandle))),
  );
}
