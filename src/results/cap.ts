/**
 * The size cap of stored job results, and the one place a handler's return value becomes the
 * JSON stored with its completed job.
 * @module
 */
import { ResultTooLargeError } from "../errors.ts";

/**
 * Largest result a handler may return, in UTF-8 bytes of its JSON: 1 MiB. A larger result fails
 * the job for good with a {@link ResultTooLargeError}; keep large data elsewhere and return a
 * reference to it.
 */
export const MAX_RESULT_BYTES = 1_048_576;

const encoder = new TextEncoder();

/**
 * The JSON value stored for a handler's return value: `null` for `undefined`, else the value
 * as `JSON.stringify` sees it (dates become strings, `undefined` members vanish). Throws what
 * `JSON.stringify` throws (a BigInt, a cycle), or {@link ResultTooLargeError} over the cap.
 */
export function storedResult(value: unknown): unknown {
  if (value === undefined) return null;
  const text = JSON.stringify(value) ?? "null";
  // Each UTF-16 unit is at most 3 UTF-8 bytes: short texts skip the exact count.
  if (text.length * 3 > MAX_RESULT_BYTES) {
    const bytes = encoder.encode(text).length;
    if (bytes > MAX_RESULT_BYTES) throw new ResultTooLargeError(bytes, MAX_RESULT_BYTES);
  }
  return JSON.parse(text);
}
