/**
 * One POST of the HTTP worker and what its answer means for the job: 2xx succeeds, 5xx and
 * transport errors (timeouts included) are retryable `HttpWorkerError`s, any other status is a
 * `TerminalError` carrying the start of the body.
 * @module
 */
import { HttpWorkerError, TerminalError } from "../errors.ts";
import { readCapped, textOf } from "./body.ts";

/** Longest body excerpt an error records, in characters. */
export const ERROR_BODY_CHARS = 2_000;
/** Bytes of an error body read to build the excerpt. */
const ERROR_BODY_BYTES = 8 * 1024;
/** Largest sync result accepted, in bytes (the limit of a job's JSON). */
export const MAX_RESULT_BYTES = 1 << 20;

/** What one request sends. */
export interface Outgoing {
  url: string;
  headers: Headers;
  body: unknown;
  timeoutMs: number;
  /** The attempt's signal: cancellation, rescue, deadline or shutdown stop the request. */
  signal: AbortSignal;
  /** Read the 2xx body (sync mode) instead of discarding it. */
  readResult: boolean;
}

/** A 2xx answer; `result` is its JSON body when read and JSON, else null. */
export interface Succeeded {
  status: number;
  result: unknown;
}

/** The URL as errors show it: without query string, which may hold a key. */
export function shownUrl(url: string): string {
  const u = new URL(url);
  return `${u.origin}${u.pathname}`;
}

function describeFailure(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = err.cause as { code?: unknown; message?: unknown } | undefined;
  const detail = cause?.code ?? cause?.message;
  return detail === undefined ? err.message : `${err.message} (${String(detail)})`;
}

function excerpt(text: string, over: boolean): string {
  if (!over && text.length <= ERROR_BODY_CHARS) return text;
  return `${text.slice(0, ERROR_BODY_CHARS)}… (truncated)`;
}

const JSON_TYPE = /^application\/(?:[\w.+-]*\+)?json(?:\s*;|\s*$)/i;

function resultOf(text: string, contentType: string | null, where: string): unknown {
  if (text.trim() === "" || contentType === null || !JSON_TYPE.test(contentType)) return null;
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new TerminalError(`${where} answered with a JSON content type but invalid JSON`, {
      cause: err,
    });
  }
}

/**
 * POST `out.body` as JSON. Resolves on a 2xx; throws an `HttpWorkerError` (retryable) on a 5xx,
 * a transport error or the timeout, a `TerminalError` on any other status, and the attempt
 * signal's reason when that aborted first (the runtime ignores the outcome then anyway).
 */
export async function exchange(out: Outgoing): Promise<Succeeded> {
  const where = `POST ${shownUrl(out.url)}`;
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, out.timeoutMs);
  const stop = () => controller.abort();
  out.signal.addEventListener("abort", stop, { once: true });
  const failed = (err: unknown): never => {
    if (out.signal.aborted) throw out.signal.reason;
    if (timedOut) {
      throw new HttpWorkerError(`${where}: no answer within ${out.timeoutMs} ms`, {
        status: null,
      }, { cause: err });
    }
    throw new HttpWorkerError(`${where} failed: ${describeFailure(err)}`, { status: null }, {
      cause: err,
    });
  };
  try {
    if (out.signal.aborted) throw out.signal.reason;
    out.headers.set("content-type", "application/json");
    let res: Response;
    try {
      res = await fetch(out.url, {
        method: "POST",
        headers: out.headers,
        body: JSON.stringify(out.body),
        signal: controller.signal,
        // A redirect would carry the signature elsewhere; a 3xx fails the job instead.
        redirect: "manual",
      });
    } catch (err) {
      return failed(err);
    }
    const ok = res.status >= 200 && res.status <= 299;
    if (ok && !out.readResult) {
      await res.body?.cancel().catch(() => {});
      return { status: res.status, result: null };
    }
    let body;
    try {
      body = await readCapped(res.body, ok ? MAX_RESULT_BYTES : ERROR_BODY_BYTES);
    } catch (err) {
      return failed(err);
    }
    const text = textOf(body.bytes);
    if (ok) {
      if (body.over) {
        throw new TerminalError(
          `${where} answered ${res.status} with a body over ${MAX_RESULT_BYTES} bytes, too ` +
            "large to keep as the job's result",
        );
      }
      return { status: res.status, result: resultOf(text, res.headers.get("content-type"), where) };
    }
    const shown = excerpt(text, body.over);
    const statusLine = `${res.status}${res.statusText ? ` ${res.statusText}` : ""}`;
    const error = new HttpWorkerError(`${where} answered ${statusLine}: ${shown}`, {
      status: res.status,
      body: shown,
    });
    if (res.status >= 500 && res.status <= 599) throw error;
    throw new TerminalError(error.message, { cause: error });
  } finally {
    clearTimeout(timer);
    out.signal.removeEventListener("abort", stop);
  }
}
