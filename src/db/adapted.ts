/**
 * The handle shape the adapters of `@awa/awa/adapters` produce: a query function and, where
 * the wrapped handle is not itself a transaction, a way to open one. Everything else an
 * executor offers (COPY, LISTEN, reserved sessions) is absent, so these handles serve the
 * producer functions and `migrate`, and `insertMany` writes each batch with one multi-row INSERT.
 * @module
 */
import type { Executor } from "./executor.ts";

/** A database handle of another library, mapped for Awa by one of `@awa/awa/adapters`. */
export interface AdaptedDb {
  /** Tells this handle from the others Awa accepts. */
  readonly kind: "adapted";
  /** Which library the handle comes from, as error messages name it. */
  readonly driver: string;
  /** The wrapped handle (a Kysely instance, a Knex transaction, …). */
  readonly handle: object;
  /** Run one statement with `$1`-style parameters; resolves to its rows. */
  query(text: string, params: unknown[]): Promise<Record<string, unknown>[]>;
  /**
   * Run `fn` in a new transaction of the handle, committing when it resolves. `null` when the
   * handle is already a transaction: Awa's writes then commit or roll back with it.
   */
  readonly transaction: (<T>(fn: (tx: AdaptedDb) => Promise<T>) => Promise<T>) | null;
}

/** True for a handle made by an adapter. */
export function isAdaptedDb(db: unknown): db is AdaptedDb {
  return typeof db === "object" && db !== null && (db as AdaptedDb).kind === "adapted" &&
    typeof (db as AdaptedDb).query === "function";
}

/** The executor of an adapted handle. */
export function adaptedExecutor(db: AdaptedDb): Executor {
  const ex: Executor = {
    identity: db.handle,
    query: <T>(text: string, params: unknown[] = []) => db.query(text, params) as Promise<T[]>,
    atomic: (fn) => db.transaction ? db.transaction((tx) => fn(adaptedExecutor(tx))) : fn(ex),
  };
  return ex;
}
