/**
 * What the cache accepts: namespaces, keys, TTLs and value sizes, each checked before anything
 * is written.
 * @module
 */
import { PayloadTooLargeError, ValidationError } from "../errors.ts";
import { checkKind } from "../job.ts";
import { checkInteger, checkJson, checkText, MAX_KIND_LENGTH } from "../validate.ts";

/** Longest cache key, in characters. */
export const MAX_CACHE_KEY_LENGTH = 512;
/** Largest cached value, in UTF-8 bytes of its JSON: 1 MiB. */
export const MAX_CACHE_VALUE_BYTES = 1_048_576;
/** Longest TTL, in ms: 365 days. */
export const MAX_CACHE_TTL_MS = 365 * 86_400_000;
/** Longest namespace, in characters (a job kind's limit). */
export const MAX_NAMESPACE_LENGTH: number = MAX_KIND_LENGTH;

const encoder = new TextEncoder();

/** A namespace: 1-200 characters of letters, digits, `_ . : -` (the job-kind rules). */
export function checkNamespace(v: unknown, field: string): string {
  return checkKind(v, field);
}

/** A key: a non-empty string of at most 512 characters that Postgres can store as text. */
export function checkKey(v: unknown, field = "key"): string {
  const key = checkText(v, field, MAX_CACHE_KEY_LENGTH);
  if (key.length === 0) throw new ValidationError(field, "must not be empty");
  return key;
}

/** A TTL: an integer number of ms from 1 to 365 days. */
export function checkTtl(v: unknown, field: string): number {
  return checkInteger(v, field, 1, MAX_CACHE_TTL_MS);
}

/** The JSON text of a value to cache; throws `ValidationError` or `PayloadTooLargeError`. */
export function encodeValue(value: unknown, field: string): string {
  if (value === undefined) {
    throw new ValidationError(field, "undefined cannot be cached (it is not JSON); use null");
  }
  const text = checkJson(value, field);
  const bytes = encoder.encode(text).length;
  if (bytes > MAX_CACHE_VALUE_BYTES) {
    throw new PayloadTooLargeError(
      "the cache value",
      bytes,
      MAX_CACHE_VALUE_BYTES,
      "cache something smaller, or keep large values in a table of their own",
    );
  }
  return text;
}
