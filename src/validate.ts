/**
 * Input checks shared by every public producer entry. Each check throws a
 * {@link ValidationError} naming the field and what to fix, and never throws anything else, even
 * for a Symbol, a BigInt or a cyclic object.
 * @module
 */
import { ValidationError } from "./errors.ts";

/** A short, always-printable description of any value, for error messages. */
export function describe(v: unknown): string {
  switch (typeof v) {
    case "string":
      return JSON.stringify(v.length > 80 ? v.slice(0, 80) + "…" : v);
    case "bigint":
      return `${v}n`;
    case "symbol":
      return v.toString();
    case "function":
      return "a function";
    case "undefined":
      return "undefined";
    case "object":
      if (v === null) return "null";
      if (Array.isArray(v)) return "an array";
      if (v instanceof Date) return Number.isNaN(v.getTime()) ? "an invalid Date" : "a Date";
      return "an object";
    default:
      return String(v);
  }
}

/**
 * Check an options argument: `undefined` means none; anything else must be a plain object whose
 * keys are all in `known`. Misspelt keys are rejected, never ignored.
 */
export function checkOptions<T extends object>(
  opts: unknown,
  field: string,
  known: ReadonlySet<string>,
): Partial<T> {
  if (opts === undefined) return {};
  if (typeof opts !== "object" || opts === null || Array.isArray(opts)) {
    throw new ValidationError(field, `must be an options object or omitted, got ${describe(opts)}`);
  }
  for (const key of Object.keys(opts)) {
    if (!known.has(key)) {
      throw new ValidationError(
        `${field}.${key}`,
        `unknown option; expected one of ${[...known].join(", ")}`,
      );
    }
  }
  return opts as Partial<T>;
}

/** Check an integer in `[min, max]` (both inclusive). */
export function checkInteger(v: unknown, field: string, min: number, max: number): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
    throw new ValidationError(
      field,
      `must be an integer from ${min} to ${max}, got ${describe(v)}`,
    );
  }
  return v;
}

const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;

/** Check a signed 64-bit integer given as a safe-integer number or a bigint. */
export function checkInt64(v: unknown, field: string): bigint {
  if (typeof v === "bigint" && v >= INT64_MIN && v <= INT64_MAX) return v;
  if (typeof v === "number" && Number.isSafeInteger(v)) return BigInt(v);
  throw new ValidationError(
    field,
    `must be a safe integer or a bigint that fits a signed 64-bit integer, got ${describe(v)}`,
  );
}

/** Check a string Postgres can store as text: no NUL, no lone UTF-16 surrogate. */
export function checkText(v: unknown, field: string, maxLength = Infinity): string {
  if (typeof v !== "string") {
    throw new ValidationError(field, `must be a string, got ${describe(v)}`);
  }
  if (v.length > maxLength) {
    throw new ValidationError(field, `must be at most ${maxLength} characters`);
  }
  if (v.includes("\u0000")) throw new ValidationError(field, "must not contain \\u0000");
  if (!v.isWellFormed()) throw new ValidationError(field, "has a lone UTF-16 surrogate");
  return v;
}

/** Earliest and latest instants accepted as job times: years 1 to 9999 UTC. */
const MIN_TIME = Date.parse("0001-01-01T00:00:00.000Z");
const MAX_TIME = Date.parse("9999-12-31T23:59:59.999Z");

/**
 * Check a valid Date in years 1 to 9999 UTC: `toISOString()` writes other years in a form
 * Postgres does not read back.
 */
export function checkDate(v: unknown, field: string): Date {
  if (!(v instanceof Date) || Number.isNaN(v.getTime())) {
    throw new ValidationError(field, `must be a valid Date, got ${describe(v)}`);
  }
  const t = v.getTime();
  if (t < MIN_TIME || t > MAX_TIME) {
    throw new ValidationError(field, "must be between year 1 and year 9999 (UTC)");
  }
  return v;
}

/** Job kind and queue names: ASCII letters, digits and `_ . : -`, not starting with `.:-`. */
export const NAME_RE: RegExp = /^[A-Za-z0-9_][A-Za-z0-9_.:\-]*$/;
/** Longest job kind, in characters. */
export const MAX_KIND_LENGTH = 200;
/** Longest queue name, in bytes: NOTIFY channel names are at most 63 bytes. */
export const MAX_QUEUE_BYTES = 59;

/** Deepest nesting of args and metadata accepted (objects and arrays). */
export const MAX_JSON_DEPTH = 100;

/**
 * Check that `value` survives a JSON round trip unchanged and holds nothing Postgres jsonb
 * rejects (NUL, lone surrogates in keys or strings, non-finite numbers, nesting deeper than
 * {@link MAX_JSON_DEPTH}). Returns its serialized form.
 */
export function checkJson(value: unknown, field: string): string {
  const seen = new Set<object>();
  const walk = (v: unknown, path: string, depth: number): void => {
    if (v === null || typeof v === "boolean") return;
    if (typeof v === "string") {
      if (v.includes("\u0000")) throw new ValidationError(path, "strings must not contain \\u0000");
      if (!v.isWellFormed()) throw new ValidationError(path, "string has a lone UTF-16 surrogate");
      return;
    }
    if (typeof v === "number") {
      if (!Number.isFinite(v)) throw new ValidationError(path, `${v} is not valid JSON`);
      return;
    }
    if (typeof v !== "object") {
      throw new ValidationError(path, `${describe(v)} (a ${typeof v}) is not JSON-serialisable`);
    }
    if (depth > MAX_JSON_DEPTH) {
      throw new ValidationError(field, `nests deeper than ${MAX_JSON_DEPTH} levels`);
    }
    if (seen.has(v)) throw new ValidationError(path, "contains a circular reference");
    seen.add(v);
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        if (!(i in v) || v[i] === undefined) {
          throw new ValidationError(`${path}[${i}]`, "undefined or a hole is not JSON");
        }
        walk(v[i], `${path}[${i}]`, depth + 1);
      }
    } else {
      const proto = Object.getPrototypeOf(v);
      if (proto !== Object.prototype && proto !== null) {
        throw new ValidationError(
          path,
          `a ${proto?.constructor?.name ?? "non-plain"} object is not plain JSON; convert it first`,
        );
      }
      for (const [k, x] of Object.entries(v)) {
        if (k.includes("\u0000")) throw new ValidationError(path, "keys must not contain \\u0000");
        if (!k.isWellFormed()) {
          throw new ValidationError(path, `key ${JSON.stringify(k)} has a lone UTF-16 surrogate`);
        }
        if (x !== undefined) walk(x, `${path}.${k}`, depth + 1);
      }
    }
    seen.delete(v);
  };
  walk(value, field, 1);
  return JSON.stringify(value);
}

/**
 * Postgres keywords that cannot stand unquoted as a schema name in every position Awa uses one
 * (`schema.table`, `schema.function(...)`, `::schema.type`): the reserved, type/function-name
 * and column-name keywords of `pg_get_keywords()` (Postgres 15, plus those added up to 17).
 */
export const NON_IDENTIFIER_KEYWORDS: ReadonlySet<string> = new Set(
  ("all analyse analyze and any array as asc asymmetric both case cast check collate column " +
    "constraint create current_catalog current_date current_role current_time " +
    "current_timestamp current_user default deferrable desc distinct do else end except false " +
    "fetch for foreign from grant group having in initially intersect into lateral leading limit " +
    "localtime localtimestamp not null offset on only or order placing primary references " +
    "returning select session_user some symmetric system_user table then to trailing true union " +
    "unique user using variadic when where window with " +
    "authorization binary collation concurrently cross current_schema freeze full ilike inner is " +
    "isnull join left like natural notnull outer overlaps right similar tablesample verbose " +
    "between bigint bit boolean char character coalesce dec decimal exists extract float " +
    "greatest grouping inout int integer interval json json_array json_arrayagg json_exists " +
    "json_object json_objectagg json_query json_scalar json_serialize json_table json_value " +
    "least merge_action national nchar none normalize nullif numeric out overlay position " +
    "precision real row setof smallint substring time timestamp treat trim values varchar " +
    "xmlattributes xmlconcat xmlelement xmlexists xmlforest xmlnamespaces xmlparse xmlpi xmlroot " +
    "xmlserialize xmltable").split(" "),
);
