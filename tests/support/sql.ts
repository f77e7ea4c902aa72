/**
 * Test-only: SQL that tests and the property engines write against the default schema `awa`,
 * pointed at another schema. The product's statements use the explicit `{{schema}}` token
 * (src/storage/store.ts); this rewrite is only for hand-written inspection queries.
 */
import { DEFAULT_SCHEMA } from "../../src/schema.ts";

const cache = new Map<string, string>();

/** `sqlText` with every `awa.` qualifier pointed at `schema`, memoised. */
export function q(schema: string, sqlText: string): string {
  if (schema === DEFAULT_SCHEMA) return sqlText;
  const key = schema + "\0" + sqlText;
  let out = cache.get(key);
  if (out === undefined) {
    out = sqlText.replace(/\bawa\./g, `${schema}.`);
    cache.set(key, out);
  }
  return out;
}
