/**
 * Resolving callbacks from anywhere: a webhook handler, another service, an operator script.
 * Each function takes any `Db` (a pool, a client, a transaction) and a callback id from
 * `ctx.registerCallback`, and returns the job's state after the call. An unknown, already
 * resolved, superseded or stale id throws {@link CallbackNotFoundError} and writes nothing; of
 * concurrent resolutions of one callback exactly one wins (the others get the not-found
 * error). A malformed id or argument throws `ValidationError` before any statement.
 * See docs/callbacks.md.
 * @module
 */
import { adminCall } from "../admin/call.ts";
import { checkAdminOptions, type SchemaOption } from "../admin/filters.ts";
import type { Db } from "../db/executor.ts";
import { CallbackNotFoundError, ValidationError } from "../errors.ts";
import type { JobState } from "../hash.ts";
import { checkJson, checkText } from "../validate.ts";
import { decide } from "./cel.ts";
import { checkCallbackId } from "./ids.ts";
import { checkTimeoutMs } from "../runtime/callbacks.ts";
import {
  type CallbackAction,
  callbackExpressions,
  type ResolveArgs,
  resolveCallback as resolveCallbackRow,
} from "../storage/callbacks.ts";
import type { Store } from "../storage/store.ts";

/** What a resolution did: the job, its state after the call, and the action taken. */
export interface CallbackResolution {
  /** The job whose callback it was. */
  jobId: number;
  /** The job's state after the call (`waiting_external` when ignored or heartbeated). */
  state: JobState;
  /**
   * What was done: the function's own action, or for `resolveCallback` the one its CEL
   * expressions (or the default) chose: `complete`, `fail` or `ignore`.
   */
  action?: "resume" | "complete" | "fail" | "retry" | "heartbeat" | "cancel" | "ignore";
}

/** Options of every resolution function. Unknown keys are rejected. */
export interface ExternalOptions extends SchemaOption {}

/** What `resolveCallback` does when no CEL expression decided. */
export type DefaultAction = "complete" | "fail" | "ignore";

/** Longest error text `failExternal` records, in characters. */
export const MAX_EXTERNAL_ERROR_CHARS = 10_000;

function checkPayload(payload: unknown, field: string): unknown {
  if (payload === undefined) return null;
  checkJson(payload, field);
  return payload;
}

async function apply(
  store: Store,
  id: string,
  action: Exclude<CallbackAction, "check">,
  args: ResolveArgs,
): Promise<CallbackResolution> {
  const row = await resolveCallbackRow(store, id, action, args);
  if (row === null) throw new CallbackNotFoundError(id);
  if (!row.applied) {
    throw new ValidationError(
      "callbackId",
      action === "resume"
        ? `callback ${id} belongs to a parked job, which no handler waits on; resume only ` +
          "serves ctx.waitForCallback: end a parked job with completeExternal, failExternal or " +
          "retryExternal"
        : `callback ${id}: ${action} needs a job in waiting_external, the job is ${row.state}`,
    );
  }
  return { jobId: Number(row.job_id), state: row.state as JobState, action };
}

function run(
  db: Db,
  opts: ExternalOptions | undefined,
  operation: string,
  fn: (store: Store) => Promise<CallbackResolution>,
): Promise<CallbackResolution> {
  const { schema } = checkAdminOptions<ExternalOptions>(opts, "opts", []);
  return adminCall(db, schema, operation, fn);
}

/**
 * Resume the sequential wait (`ctx.waitForCallback`) of callback `callbackId` with `payload`
 * (JSON, default null): the job is `running` again and the waiting handler gets the payload.
 * Accepted before the wait begins (it is kept). A parked job cannot be resumed
 * (`ValidationError`): complete, fail or retry it instead.
 */
export async function resumeExternal(
  db: Db,
  callbackId: string,
  payload?: unknown,
  opts?: ExternalOptions,
): Promise<CallbackResolution> {
  const id = checkCallbackId(callbackId, "callbackId");
  const p = checkPayload(payload, "payload");
  return await run(db, opts, "resumeExternal", (s) => apply(s, id, "resume", { payload: p }));
}

/** Complete the job of callback `callbackId`, with `payload` (JSON, default null) as result. */
export async function completeExternal(
  db: Db,
  callbackId: string,
  payload?: unknown,
  opts?: ExternalOptions,
): Promise<CallbackResolution> {
  const id = checkCallbackId(callbackId, "callbackId");
  const p = checkPayload(payload, "payload");
  return await run(db, opts, "completeExternal", (s) => apply(s, id, "complete", { payload: p }));
}

/**
 * Fail the job of callback `callbackId` for good with `error` (non-empty, up to 10 000
 * characters); it goes to the DLQ when its queue has the DLQ enabled.
 */
export async function failExternal(
  db: Db,
  callbackId: string,
  error: string,
  opts?: ExternalOptions,
): Promise<CallbackResolution> {
  const id = checkCallbackId(callbackId, "callbackId");
  const text = checkText(error, "error", MAX_EXTERNAL_ERROR_CHARS);
  if (text.trim() === "") throw new ValidationError("error", "must not be empty");
  return await run(db, opts, "failExternal", (s) => apply(s, id, "fail", { error: text }));
}

/**
 * Run the job of callback `callbackId` again now, with a fresh attempt budget (attempt 0;
 * errors kept). Only from `waiting_external` (a parked job or a sequential wait); a job whose
 * handler is still running gets `ValidationError`.
 */
export async function retryExternal(
  db: Db,
  callbackId: string,
  opts?: ExternalOptions,
): Promise<CallbackResolution> {
  const id = checkCallbackId(callbackId, "callbackId");
  return await run(db, opts, "retryExternal", (s) => apply(s, id, "retry", {}));
}

/**
 * Extend the deadline of callback `callbackId` to now + `timeoutMs` (1 ms to 30 days, default
 * 3 600 000 = 1 h). The job stays where it is.
 */
export async function heartbeatCallback(
  db: Db,
  callbackId: string,
  timeoutMs = 3_600_000,
  opts?: ExternalOptions,
): Promise<CallbackResolution> {
  const id = checkCallbackId(callbackId, "callbackId");
  const ms = checkTimeoutMs(timeoutMs, "timeoutMs");
  return await run(
    db,
    opts,
    "heartbeatCallback",
    (s) => apply(s, id, "heartbeat", { timeoutS: ms / 1000 }),
  );
}

/**
 * Withdraw callback `callbackId`: its id stops resolving anything. A parked job's attempt
 * ends as if it had timed out now (retryable with backoff, or failed on its last attempt,
 * error `callback cancelled`); a handler that registered it but has not parked runs on (its
 * `waitForCallback` rejects with `CallbackNotFoundError`).
 */
export async function cancelCallback(
  db: Db,
  callbackId: string,
  opts?: ExternalOptions,
): Promise<CallbackResolution> {
  const id = checkCallbackId(callbackId, "callbackId");
  return await run(db, opts, "cancelCallback", (s) => apply(s, id, "cancel", {}));
}

const DEFAULT_ACTIONS = new Set<unknown>(["complete", "fail", "ignore"]);

/**
 * Resolve callback `callbackId` by its CEL expressions over `payload`, in this order: `filter`
 * false → ignore (an error passes); `onFail` true → fail with `on_fail expression matched`;
 * `onComplete` true → complete with `transform(payload)` (the payload itself when the transform
 * fails); otherwise `defaultAction`. Ignoring writes nothing but still needs a live callback.
 */
export async function resolveCallback(
  db: Db,
  callbackId: string,
  payload: unknown,
  defaultAction: DefaultAction,
  opts?: ExternalOptions,
): Promise<CallbackResolution> {
  const id = checkCallbackId(callbackId, "callbackId");
  const p = checkPayload(payload, "payload");
  if (!DEFAULT_ACTIONS.has(defaultAction)) {
    throw new ValidationError("defaultAction", 'must be "complete", "fail" or "ignore"');
  }
  return await run(db, opts, "resolveCallback", async (s) => {
    const exprs = await callbackExpressions(s, id);
    if (exprs === null) throw new CallbackNotFoundError(id);
    const d = decide(exprs, p);
    const action = d.action === "default" ? defaultAction : d.action;
    if (action === "ignore") {
      const row = await resolveCallbackRow(s, id, "check");
      if (row === null) throw new CallbackNotFoundError(id);
      return { jobId: Number(row.job_id), state: row.state as JobState, action: "ignore" };
    }
    if (action === "fail") {
      const error = d.action === "fail" ? d.error : "callback resolved as failed";
      return await apply(s, id, "fail", { error });
    }
    return await apply(s, id, "complete", { payload: d.action === "complete" ? d.payload : p });
  });
}
