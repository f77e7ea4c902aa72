/**
 * Callback ids: lowercase hyphenated UUIDs (v4 when Awa made them), checked before any
 * statement so a malformed id is a `ValidationError`, never a database error.
 * @module
 */
import { ValidationError } from "../errors.ts";
import { describe } from "../validate.ts";

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Check a callback id; uppercase hex is accepted and returned in lowercase. */
export function checkCallbackId(v: unknown, field: string): string {
  const id = typeof v === "string" ? v.toLowerCase() : v;
  if (typeof id !== "string" || !UUID_RE.test(id)) {
    throw new ValidationError(
      field,
      `must be a callback id (a hyphenated UUID like 550e8400-e29b-41d4-a716-446655440000), got ${
        describe(v)
      }`,
    );
  }
  return id;
}
