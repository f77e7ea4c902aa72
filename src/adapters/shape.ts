/**
 * What every adapter shares: checking the handle it was given and building the
 * {@link AdaptedDb} from two functions.
 * @module
 */
import type { AdaptedDb } from "../db/adapted.ts";
import { ValidationError } from "../errors.ts";
import { describe } from "../validate.ts";

/** `handle` as an object with the named methods, or a ValidationError naming the adapter. */
export function requireMethods(
  adapter: string,
  what: string,
  handle: unknown,
  methods: readonly string[],
): Record<string, unknown> {
  const ok = (typeof handle === "object" || typeof handle === "function") && handle !== null &&
    methods.every((m) => typeof (handle as Record<string, unknown>)[m] === "function");
  if (!ok) {
    throw new ValidationError("db", `${adapter} expects ${what}, got ${describe(handle)}`);
  }
  return handle as Record<string, unknown>;
}

/** The rows of a driver result: drivers answer with the row array or with `{ rows }`. */
export function rowsOf(result: unknown): Record<string, unknown>[] {
  if (Array.isArray(result)) return result;
  const rows = (result as { rows?: unknown } | null)?.rows;
  if (Array.isArray(rows)) return rows;
  throw new TypeError(`the driver answered a query with ${describe(result)}, not rows`);
}

/** Build an adapted handle. */
export function adapted(
  driver: string,
  handle: object,
  query: AdaptedDb["query"],
  transaction: AdaptedDb["transaction"],
): AdaptedDb {
  return Object.freeze({ kind: "adapted", driver, handle, query, transaction });
}

/**
 * A driver's server error re-raised with its SQLSTATE in `code` (and its DETAIL and constraint),
 * the fields Awa reads to map unique conflicts and field checks to typed errors.
 */
export function withSqlState(
  err: unknown,
  fields: { message: unknown; code: string; detail?: unknown; constraint?: unknown },
): Error {
  return Object.assign(new Error(String(fields.message), { cause: err }), {
    code: fields.code,
    detail: fields.detail,
    constraint: fields.constraint,
  });
}
