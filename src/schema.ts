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
