/**
 * Options of the HTTP worker, checked once at construction: a mistake fails at startup with a
 * `ValidationError` naming the option, never as failed jobs later.
 * @module
 */
import { ValidationError } from "../errors.ts";
import { checkInteger, checkOptions, describe } from "../validate.ts";
import { type CallbackSecret, secretKey } from "./signature.ts";
import { checkBaseUrl, DEFAULT_CALLBACK_PREFIX, normalizePrefix } from "./url.ts";

/** Options of {@link httpWorker}. Unknown keys are rejected. */
export interface HttpWorkerOptions {
  /** The function's URL (http or https); each job is POSTed to it as JSON. */
  url: string;
  /**
   * `"async"`: register a callback, POST, and park the job on a 2xx until the function calls
   * back (the worker slot is freed at once). `"sync"`: the 2xx answer completes the job.
   */
  mode: "async" | "sync";
  /**
   * Async only, required there: where the receiver is reachable from the function, an absolute
   * http(s) URL (a path is kept), e.g. `"https://jobs.example.com"`.
   */
  callbackBaseUrl?: string;
  /** Async only: path prefix of the receiver's routes. Default `"/api/callbacks"`. */
  callbackPathPrefix?: string;
  /**
   * Async only: how long the function has to call back, in ms, from 1 to 2 592 000 000 (30
   * days); a heartbeat extends it. Default 3 600 000 (1 h).
   */
  callbackTimeoutMs?: number;
  /**
   * Sync only: how long to wait for the function's answer, in ms, 1 to 86 400 000. Default
   * `requestTimeoutMs`. Keep it below the queue's `deadlineMs`.
   */
  responseTimeoutMs?: number;
  /**
   * How long one request may take until its answer has arrived, in ms, 1 to 86 400 000; in
   * sync mode `responseTimeoutMs` replaces it. Default 30 000.
   */
  requestTimeoutMs?: number;
  /**
   * Static headers sent with every request (e.g. `authorization`). `content-type`,
   * `content-length` and `x-awa-signature` are set by the worker and may not be given.
   */
  headers?: Record<string, string>;
  /**
   * Async only: the callback secret, 32 raw bytes or 64 hex characters. When set, each request
   * carries `X-Awa-Signature`, the signature of its callback id, for the function to send back.
   */
  hmacSecret?: CallbackSecret;
}

/** The options once checked, with defaults applied. */
export interface CheckedWorkerOptions {
  url: string;
  mode: "async" | "sync";
  callbackBaseUrl: string;
  callbackPathPrefix: string;
  callbackTimeoutMs: number;
  timeoutMs: number;
  headers: ReadonlyArray<readonly [string, string]>;
  key: Uint8Array | null;
}

const KNOWN = new Set([
  "url",
  "mode",
  "callbackBaseUrl",
  "callbackPathPrefix",
  "callbackTimeoutMs",
  "responseTimeoutMs",
  "requestTimeoutMs",
  "headers",
  "hmacSecret",
]);
const ASYNC_ONLY = ["callbackBaseUrl", "callbackPathPrefix", "callbackTimeoutMs", "hmacSecret"];
const RESERVED_HEADERS = new Set(["content-type", "content-length", "x-awa-signature"]);
const MAX_TIMEOUT_MS = 86_400_000;
const MAX_CALLBACK_TIMEOUT_MS = 2_592_000_000;

/** Default `callbackTimeoutMs`: one hour. */
export const DEFAULT_CALLBACK_TIMEOUT_MS = 3_600_000;
/** Default `requestTimeoutMs`: 30 seconds. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

function checkHeaders(given: unknown): Array<[string, string]> {
  if (given === undefined) return [];
  if (typeof given !== "object" || given === null || Array.isArray(given)) {
    throw new ValidationError("headers", `must be an object of strings, got ${describe(given)}`);
  }
  const out: Array<[string, string]> = [];
  for (const [name, value] of Object.entries(given)) {
    const field = `headers.${name}`;
    if (typeof value !== "string") {
      throw new ValidationError(field, `must be a string, got ${describe(value)}`);
    }
    if (RESERVED_HEADERS.has(name.toLowerCase())) {
      throw new ValidationError(field, "is set by the worker and may not be given");
    }
    try {
      new Headers([[name, value]]);
    } catch (err) {
      throw new ValidationError(field, "is not a valid HTTP header name and value", {
        cause: err,
      });
    }
    out.push([name, value]);
  }
  return out;
}

/** The function's URL: absolute http(s), kept as given (a query string such as a key stays). */
function checkTargetUrl(url: unknown): string {
  if (typeof url === "string") {
    try {
      const parsed = new URL(url);
      if (parsed.protocol === "http:" || parsed.protocol === "https:") return parsed.href;
    } catch {
      // reported below with the value
    }
  }
  throw new ValidationError("url", `must be an absolute http(s) URL, got ${describe(url)}`);
}

/** Check {@link HttpWorkerOptions}; throws a `ValidationError` naming the first bad option. */
export function checkWorkerOptions(options: unknown): CheckedWorkerOptions {
  if (options === undefined) {
    throw new ValidationError("options", "are required: at least { url, mode }");
  }
  const o = checkOptions<HttpWorkerOptions>(options, "options", KNOWN);
  const url = checkTargetUrl(o.url);
  if (o.mode !== "async" && o.mode !== "sync") {
    throw new ValidationError("mode", `must be "async" or "sync", got ${describe(o.mode)}`);
  }
  const headers = checkHeaders(o.headers);
  const timeout = (v: unknown, field: string, fallback: number, max = MAX_TIMEOUT_MS) =>
    v === undefined ? fallback : checkInteger(v, field, 1, max);
  const requestTimeoutMs = timeout(
    o.requestTimeoutMs,
    "requestTimeoutMs",
    DEFAULT_REQUEST_TIMEOUT_MS,
  );
  if (o.mode === "sync") {
    for (const key of ASYNC_ONLY) {
      if ((o as Record<string, unknown>)[key] !== undefined) {
        throw new ValidationError(key, 'applies only to mode "async"');
      }
    }
    return {
      url,
      mode: "sync",
      callbackBaseUrl: "",
      callbackPathPrefix: "",
      callbackTimeoutMs: 0,
      timeoutMs: timeout(o.responseTimeoutMs, "responseTimeoutMs", requestTimeoutMs),
      headers,
      key: null,
    };
  }
  if (o.responseTimeoutMs !== undefined) {
    throw new ValidationError(
      "responseTimeoutMs",
      'applies only to mode "sync"; use requestTimeoutMs',
    );
  }
  if (o.callbackBaseUrl === undefined) {
    throw new ValidationError(
      "callbackBaseUrl",
      'is required in mode "async": the URL where the function reaches the callback receiver',
    );
  }
  return {
    url,
    mode: "async",
    callbackBaseUrl: checkBaseUrl(o.callbackBaseUrl, "callbackBaseUrl"),
    callbackPathPrefix: normalizePrefix(
      o.callbackPathPrefix ?? DEFAULT_CALLBACK_PREFIX,
      "callbackPathPrefix",
    ),
    callbackTimeoutMs: timeout(
      o.callbackTimeoutMs,
      "callbackTimeoutMs",
      DEFAULT_CALLBACK_TIMEOUT_MS,
      MAX_CALLBACK_TIMEOUT_MS,
    ),
    timeoutMs: requestTimeoutMs,
    headers,
    key: o.hmacSecret === undefined ? null : secretKey(o.hmacSecret, "hmacSecret"),
  };
}
