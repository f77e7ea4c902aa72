/**
 * The callback URL rule, shared by the HTTP worker (which tells the function where to call back)
 * and the receiver (which routes what arrives).
 * @module
 */
import { ValidationError } from "../errors.ts";
import { describe } from "../validate.ts";

/** What a callback URL asks the receiver to do. */
export type CallbackAction = "complete" | "fail" | "heartbeat";

/** Every {@link CallbackAction}. */
export const CALLBACK_ACTIONS: readonly CallbackAction[] = Object.freeze([
  "complete",
  "fail",
  "heartbeat",
]);

/** Default path prefix of the callback routes. */
export const DEFAULT_CALLBACK_PREFIX = "/api/callbacks";

/** Characters a callback id may hold in a URL path segment (RFC 3986 unreserved). */
const ID_RE = /^[A-Za-z0-9._~-]+$/;

/** True when `id` can stand in a callback URL as is. */
export function isUrlSafeId(id: string): boolean {
  return ID_RE.test(id) && id !== "." && id !== "..";
}

/**
 * A path prefix in its normal form: trimmed, trailing `/` removed, a leading `/` added unless it
 * is empty (the routes then sit at the root).
 */
export function normalizePrefix(prefix: unknown, field = "prefix"): string {
  if (typeof prefix !== "string") {
    throw new ValidationError(field, `must be a string, got ${describe(prefix)}`);
  }
  const p = prefix.trim().replace(/\/+$/, "");
  if (/[?#\s]/.test(p)) {
    throw new ValidationError(field, `must be a URL path without query, fragment or spaces`);
  }
  if (p === "") return "";
  return p.startsWith("/") ? p : `/${p}`;
}

/**
 * The URL the outside system POSTs to: `base` without trailing `/`, then the normalised
 * `prefix`, then `/{callbackId}/{action}`. `base` is an absolute http(s) URL (a path is kept);
 * `callbackId` uses only URL-safe characters (a UUID does); `action` is `complete`, `fail` or
 * `heartbeat`. Anything else throws a `ValidationError`.
 *
 * ```ts
 * callbackUrl("https://api.example.com/", "api/callbacks/", id, "complete");
 * // "https://api.example.com/api/callbacks/<id>/complete"
 * ```
 */
export function callbackUrl(
  base: string,
  prefix: string,
  callbackId: string,
  action: CallbackAction,
): string {
  const root = checkBaseUrl(base, "base");
  const path = normalizePrefix(prefix);
  if (typeof callbackId !== "string" || !isUrlSafeId(callbackId)) {
    throw new ValidationError(
      "callbackId",
      `must be a non-empty string of letters, digits, "-", ".", "_" or "~", got ${
        describe(callbackId)
      }`,
    );
  }
  if (!CALLBACK_ACTIONS.includes(action)) {
    throw new ValidationError(
      "action",
      `must be one of ${CALLBACK_ACTIONS.join(", ")}, got ${describe(action)}`,
    );
  }
  return `${root}${path}/${callbackId}/${action}`;
}

/** `base` checked as an absolute http(s) URL without query or fragment, trailing `/` removed. */
export function checkBaseUrl(base: unknown, field: string): string {
  if (typeof base !== "string") {
    throw new ValidationError(field, `must be an absolute http(s) URL, got ${describe(base)}`);
  }
  let parsed: URL;
  try {
    parsed = new URL(base);
  } catch {
    throw new ValidationError(field, `must be an absolute http(s) URL, got ${describe(base)}`);
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new ValidationError(field, `must use http: or https:, got ${parsed.protocol}`);
  }
  if (parsed.search !== "" || parsed.hash !== "" || base.includes("?") || base.includes("#")) {
    throw new ValidationError(field, "must have no query string or fragment");
  }
  return base.trim().replace(/\/+$/, "");
}
