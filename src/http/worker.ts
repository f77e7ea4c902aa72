/**
 * The HTTP worker: a handler that hands each job to a URL (a serverless function, say). In async
 * mode it registers a callback first, so the function can resolve the job later through the
 * receiver, and parks the job on a 2xx; in sync mode the 2xx answer completes it.
 * @module
 */
import type { Handler, Job, JobContext } from "../runtime/types.ts";
import { exchange } from "./exchange.ts";
import { signWithKey } from "./signature.ts";
import { callbackUrl } from "./url.ts";
import {
  type CheckedWorkerOptions,
  checkWorkerOptions,
  type HttpWorkerOptions,
} from "./worker_options.ts";

/** The JSON body POSTed for each job (async mode adds the two callback fields). */
export interface HttpJobRequest {
  /** The job's id. */
  job_id: number;
  /** The job's kind. */
  kind: string;
  /** The job's arguments. */
  args: unknown;
  /** This attempt's number, from 1. */
  attempt: number;
  /** Attempts allowed in all. */
  max_attempts: number;
  /** Async mode: the callback to resolve. */
  callback_id?: string;
  /** Async mode: the receiver's `complete` route of this callback. */
  callback_url?: string;
}

function requestBody(job: Job<unknown>): HttpJobRequest {
  return {
    job_id: job.id,
    kind: job.kind,
    args: job.args,
    attempt: job.attempt,
    max_attempts: job.maxAttempts,
  };
}

async function runSync(o: CheckedWorkerOptions, job: Job<unknown>, ctx: JobContext) {
  const { result } = await exchange({
    url: o.url,
    headers: new Headers(o.headers as Array<[string, string]>),
    body: requestBody(job),
    timeoutMs: o.timeoutMs,
    signal: ctx.signal,
    readResult: true,
  });
  return result;
}

async function runAsync(o: CheckedWorkerOptions, job: Job<unknown>, ctx: JobContext) {
  // Registered before the request: the function may call back before its answer arrives.
  const callbackId = await ctx.registerCallback({ timeoutMs: o.callbackTimeoutMs });
  const headers = new Headers(o.headers as Array<[string, string]>);
  if (o.key !== null) headers.set("x-awa-signature", signWithKey(o.key, callbackId));
  await exchange({
    url: o.url,
    headers,
    body: {
      ...requestBody(job),
      callback_id: callbackId,
      callback_url: callbackUrl(o.callbackBaseUrl, o.callbackPathPrefix, callbackId, "complete"),
    },
    timeoutMs: o.timeoutMs,
    signal: ctx.signal,
    readResult: false,
  });
  return ctx.park(callbackId);
}

/**
 * A handler for `client.work(job, handler)` that POSTs each job to `options.url` as JSON
 * (`{job_id, kind, args, attempt, max_attempts}`, plus `callback_id` and `callback_url` in
 * async mode). A 2xx parks the job until its callback is resolved (async) or completes it with
 * the answer's JSON as result (sync); a 5xx, a transport error or a timeout retries the job
 * with backoff; any other status fails it for good with the start of the body in the error.
 * The options are checked here: a `ValidationError` names the first bad one. See docs/http.md.
 *
 * ```ts
 * client.work(renderVideo, httpWorker({
 *   url: "https://functions.example.com/render",
 *   mode: "async",
 *   callbackBaseUrl: "https://jobs.example.com",
 *   hmacSecret: process.env.AWA_CALLBACK_HMAC_SECRET,
 * }));
 * ```
 */
export function httpWorker<A = unknown>(options: HttpWorkerOptions): Handler<A> {
  const o = checkWorkerOptions(options);
  return (job, ctx) =>
    o.mode === "sync"
      ? runSync(o, job as Job<unknown>, ctx)
      : runAsync(o, job as Job<unknown>, ctx);
}
