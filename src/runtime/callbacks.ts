/**
 * Callbacks inside the worker runtime: `ctx.registerCallback` and `ctx.waitForCallback` of one
 * attempt, parking an attempt when its handler returns `ctx.park(id)`, and the
 * `callbackResolved` event of resolutions made anywhere (docs/callbacks.md).
 * @module
 */
import { CallbackNotFoundError, StaleAttemptError, ValidationError } from "../errors.ts";
import { type CallbackExpressions, checkExpressions } from "../callbacks/cel.ts";
import { checkCallbackId } from "../callbacks/ids.ts";
import type { FinalizedRow, FinalizeItem } from "../storage/attempts.ts";
import {
  type CallbackAttempt,
  parkCallback,
  registerCallback as registerCallbackRow,
  waitCallbackStep,
} from "../storage/callbacks.ts";
import type { Store } from "../storage/store.ts";
import type { Attempt } from "./dispatcher.ts";
import type { ClientEvents } from "./types.ts";

/** Options of `ctx.registerCallback`. Unknown keys are rejected. */
export interface RegisterCallbackOptions extends CallbackExpressions {
  /**
   * How long the callback may stay unresolved, in ms, from 1 ms to 30 days; past it the
   * `callbackTimeouts` maintenance service ends the attempt (retry, or failed on the last
   * attempt). `heartbeatCallback` extends it.
   */
  timeoutMs: number;
}

/** Options of `ctx.waitForCallback`. Unknown keys are rejected. */
export interface WaitForCallbackOptions {
  /** Stops the wait early (it then rejects with the signal's reason); the callback stays. */
  signal?: AbortSignal;
}

/** The callback methods of the handler context (part of `JobContext`). */
export interface CallbackMethods {
  /**
   * Register a callback on this attempt and return its id (a lowercase UUID v4). Register
   * before contacting the outside system, hand it the id, then either `return ctx.park(id)`
   * (the slot is freed, the job waits in `waiting_external`) or `await ctx.waitForCallback(id)`.
   * A newer registration supersedes the older one. Expressions are compiled here: an invalid one
   * (or one naming a variable other than `payload`) throws `ValidationError`, nothing written.
   * Throws `StaleAttemptError` when the attempt has already ended.
   */
  registerCallback(opts: RegisterCallbackOptions): Promise<string>;
  /**
   * Wait, holding the worker slot, until `resumeExternal(db, id, payload)` is called, and
   * resolve with its payload (null when none). A resume that came before the wait began is
   * kept and returned at once. Any number of waits per attempt, one callback each. The job is
   * `waiting_external` meanwhile and the callback's timeout applies (as does the queue's
   * deadline: park for long waits). Rejects with `CallbackNotFoundError` when the callback is
   * not this attempt's (or was cancelled), `StaleAttemptError` when the attempt ended (completed
   * or failed externally, timed out, cancelled), or the abort reason of `opts.signal` or the
   * attempt's signal.
   */
  waitForCallback(callbackId: string, opts?: WaitForCallbackOptions): Promise<unknown>;
}

/** Longest callback timeout, in ms (30 days). */
export const MAX_CALLBACK_TIMEOUT_MS = 30 * 86_400_000;
/** How often a sequential wait checks for its resume, in ms. */
export const WAIT_POLL_MS = 200;

const REGISTER_KEYS = new Set(["timeoutMs", "filter", "onComplete", "onFail", "transform"]);

/** Check a callback timeout in ms. */
export function checkTimeoutMs(v: unknown, field: string): number {
  if (typeof v !== "number" || !Number.isFinite(v) || v < 1 || v > MAX_CALLBACK_TIMEOUT_MS) {
    throw new ValidationError(
      field,
      `must be a number of milliseconds from 1 to ${MAX_CALLBACK_TIMEOUT_MS} (30 days)`,
    );
  }
  return v;
}

function refOf(a: Attempt): CallbackAttempt {
  return {
    claimSlot: a.claimSlot,
    batchId: a.batchId,
    idx: a.idx,
    jobId: a.job.id,
    runLease: a.job.runLease,
  };
}

/** The event sink the callback methods report to. */
export type EmitCallbackEvent = <E extends "waitingForCallback" | "callbackResumed">(
  name: E,
  payload: ClientEvents[E],
) => void;

function sleep(ms: number, signals: AbortSignal[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = () => {
      clearTimeout(t);
      for (const s of signals) s.removeEventListener("abort", onAbort);
    };
    const onAbort = function (this: AbortSignal) {
      done();
      reject(this.reason);
    };
    const t = setTimeout(() => {
      done();
      resolve();
    }, ms);
    for (const s of signals) s.addEventListener("abort", onAbort, { once: true });
  });
}

/** The callback methods of one attempt's context. */
export function callbackMethods(
  store: Store,
  a: Attempt,
  emit: EmitCallbackEvent,
): CallbackMethods {
  const stale = () => a.controller.signal.reason ?? new StaleAttemptError(a.job.id);
  return {
    async registerCallback(opts) {
      if (typeof opts !== "object" || opts === null || Array.isArray(opts)) {
        throw new ValidationError("registerCallback(opts)", "must be an options object");
      }
      for (const key of Object.keys(opts)) {
        if (!REGISTER_KEYS.has(key)) {
          throw new ValidationError(
            `registerCallback(opts).${key}`,
            `unknown option; expected one of ${[...REGISTER_KEYS].join(", ")}`,
          );
        }
      }
      const timeoutMs = checkTimeoutMs(opts.timeoutMs, "registerCallback(opts).timeoutMs");
      const exprs = checkExpressions(opts, "registerCallback(opts)");
      if (a.controller.signal.aborted) throw stale();
      const id = await registerCallbackRow(store, refOf(a), timeoutMs / 1000, exprs);
      if (id === null) throw stale();
      return id;
    },
    async waitForCallback(callbackId, opts) {
      const id = checkCallbackId(callbackId, "waitForCallback(callbackId)");
      if (opts !== undefined) {
        if (
          typeof opts !== "object" || opts === null || Object.keys(opts).some((k) => k !== "signal")
        ) {
          throw new ValidationError("waitForCallback(opts)", "must be { signal? } or omitted");
        }
        if (opts.signal !== undefined && !(opts.signal instanceof AbortSignal)) {
          throw new ValidationError("waitForCallback(opts).signal", "must be an AbortSignal");
        }
      }
      const signals = [a.controller.signal, ...(opts?.signal ? [opts.signal] : [])];
      let announced = false;
      while (true) {
        for (const s of signals) if (s.aborted) throw s.reason;
        const step = await waitCallbackStep(store, refOf(a), id);
        switch (step.status) {
          case "resumed":
            emit("callbackResumed", { job: a.job, callbackId: id, payload: step.payload });
            return step.payload;
          case "gone":
            throw new CallbackNotFoundError(id);
          case "stale":
            throw stale();
          case "waiting":
            if (!announced) {
              announced = true;
              emit("waitingForCallback", { job: a.job, callbackId: id, parked: false });
            }
        }
        await sleep(WAIT_POLL_MS, signals);
      }
    },
  };
}

/** Error text of a job whose handler returned `ctx.park(id)` without that callback registered. */
export function contractViolation(callbackId: string): string {
  return `wait_for_callback_contract_violation: the handler returned park(${callbackId}) but ` +
    "that callback is not registered on this attempt (never registered, superseded by a newer " +
    "registration, or already resumed); call ctx.registerCallback first and park on its id";
}

/**
 * Park a finished attempt on callback `callbackId`. Parked: the `waitingForCallback` event,
 * and a row in `waiting_external`. No such callback: the job fails through `fail` (the
 * contract violation item). Attempt no longer open: null (the dispatcher reports it stale).
 */
export async function parkOrFail(
  store: Store,
  a: Attempt,
  callbackId: string,
  fail: (item: FinalizeItem) => Promise<FinalizedRow | null>,
  failItem: FinalizeItem,
  emit: EmitCallbackEvent,
): Promise<FinalizedRow | null> {
  const status = await parkCallback(store, refOf(a), callbackId, a.progress.value);
  if (status === "stale") return null;
  if (status === "no_callback") return await fail(failItem);
  emit("waitingForCallback", { job: a.job, callbackId, parked: true });
  return {
    job_id: String(a.job.id),
    run_lease: String(a.job.runLease),
    outcome: "park",
    state: "waiting_external",
    held: null,
    run_at: null,
  };
}

/** A `@callback` notice (see `awa.notify_callback`). */
interface CallbackNotice {
  job_id: number;
  run_lease: number;
  callback_id: string;
  action: string;
  state: string;
  instance_id: string | null;
}

/**
 * Turn a `@callback` notice into the `callbackResolved` event, on the runtime that claimed the
 * attempt only (every runtime of the schema receives every notice).
 */
export function onCallbackNotice(
  payload: string,
  instanceId: string,
  emit: (e: ClientEvents["callbackResolved"]) => void,
): void {
  const n = JSON.parse(payload) as CallbackNotice;
  if (n.instance_id !== instanceId) return;
  emit({
    jobId: Number(n.job_id),
    runLease: Number(n.run_lease),
    callbackId: n.callback_id,
    action: n.action as ClientEvents["callbackResolved"]["action"],
    state: n.state,
  });
}
