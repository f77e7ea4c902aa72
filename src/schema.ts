import { ValidationError } from "./errors.ts";
import { describe, NON_IDENTIFIER_KEYWORDS } from "./validate.ts";

/** Default schema holding Awa's tables and functions. */
export const DEFAULT_SCHEMA = "awa";

const SCHEMA_RE = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * Validate a schema name: a plain lower-case identifier (letters, digits, _; at most 63) that is
 * neither an SQL keyword Postgres refuses as an unquoted name (`order`, `select`, …) nor
 * starting with `pg_` (reserved for system schemas). `undefined`
 * means the default, `"awa"`.
 */
export function checkSchema(schema: unknown, field = "schema"): string {
  const s = schema === undefined ? DEFAULT_SCHEMA : schema;
  if (typeof s !== "string" || !SCHEMA_RE.test(s)) {
    throw new ValidationError(
      field,
      `must be a lower-case SQL identifier (letters, digits, _; at most 63), got ${describe(s)}`,
    );
  }
  if (NON_IDENTIFIER_KEYWORDS.has(s)) {
    throw new ValidationError(field, `${describe(s)} is an SQL keyword; choose another name`);
  }
  if (s.startsWith("pg_")) {
    throw new ValidationError(field, "names starting with pg_ are reserved by Postgres");
  }
  return s;
}

/**
 * Point SQL written against the `awa` schema at another schema. The name is a validated
 * identifier (never user text in a value position), so this substitution cannot inject.
 */
export function inSchema(sqlText: string, schema: string): string {
  return schema === DEFAULT_SCHEMA ? sqlText : sqlText.replace(/\bawa\./g, `${schema}.`)
    .replace(/\bSCHEMA IF NOT EXISTS awa;/g, `SCHEMA IF NOT EXISTS ${schema};`);
}

const cache = new Map<string, string>();

/** {@link inSchema}, memoised per (text, schema) for hot statements. */
export function q(schema: string, sqlText: string): string {
  if (schema === DEFAULT_SCHEMA) return sqlText;
  const key = schema + "\0" + sqlText;
  let out = cache.get(key);
  if (out === undefined) {
    out = inSchema(sqlText, schema);
    cache.set(key, out);
  }
  return out;
}
