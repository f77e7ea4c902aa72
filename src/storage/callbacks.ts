/**
 * Callback statements (docs/callbacks.md): registration, parking and sequential waits by the
 * attempt's own process (addressed by its receipt and lease), resolution by callback id from any
 * process, and the timeout scan of the maintenance leader. Every one takes the attempt lock and
 * checks that the attempt is still open (`awa.callback_attempt_open`) before it writes.
 * @module
 */
import type { Store } from "./store.ts";

/** The attempt a callback statement addresses: its receipt and its lease. */
export interface CallbackAttempt {
  claimSlot: number;
  batchId: string;
  idx: number;
  jobId: number;
  runLease: number;
}

/** CEL expressions of a callback, as source text (already compiled once by the caller). */
export interface CallbackExpressionsText {
  filter: string | null;
  onComplete: string | null;
  onFail: string | null;
  transform: string | null;
}

/**
 * Register a callback on an open running attempt (`awa.register_callback`); returns its id, or
 * null when the attempt is no longer open (or is in a wait).
 */
export async function registerCallback(
  store: Store,
  a: CallbackAttempt,
  timeoutS: number,
  exprs: CallbackExpressionsText,
): Promise<string | null> {
  const [{ id }] = await store.run<{ id: string | null }>(
    "registerCallback",
    "SELECT {{schema}}.register_callback($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)::text AS id",
    [
      a.claimSlot,
      a.batchId,
      a.idx,
      a.jobId,
      a.runLease,
      timeoutS,
      exprs.filter,
      exprs.onComplete,
      exprs.onFail,
      exprs.transform,
    ],
  );
  return id;
}

/** What parking an attempt did (see `awa.park_callback`). */
export type ParkStatus = "parked" | "stale" | "no_callback";

/** Park an open attempt on its registered callback (`awa.park_callback`). */
export async function parkCallback(
  store: Store,
  a: CallbackAttempt,
  callbackId: string,
  progress: unknown,
): Promise<ParkStatus> {
  const [{ status }] = await store.run<{ status: ParkStatus }>(
    "parkCallback",
    "SELECT {{schema}}.park_callback($1, $2, $3, $4, $5, $6::uuid, $7::text::jsonb) AS status",
    [
      a.claimSlot,
      a.batchId,
      a.idx,
      a.jobId,
      a.runLease,
      callbackId,
      progress === null || progress === undefined ? null : JSON.stringify(progress),
    ],
  );
  return status;
}

/** One step of a sequential wait (see `awa.wait_callback_step`). */
export type WaitStep =
  | { status: "resumed"; payload: unknown }
  | { status: "waiting" | "gone" | "stale" };

/** Take a step of a sequential wait: consume a resume, or (re)enter `waiting_external`. */
export async function waitCallbackStep(
  store: Store,
  a: CallbackAttempt,
  callbackId: string,
): Promise<WaitStep> {
  const [row] = await store.run<{ status: WaitStep["status"]; result: string | null }>(
    "waitCallbackStep",
    `SELECT status, result::text AS result
FROM {{schema}}.wait_callback_step($1, $2, $3, $4, $5, $6::uuid)`,
    [a.claimSlot, a.batchId, a.idx, a.jobId, a.runLease, callbackId],
  );
  if (row.status === "resumed") {
    const wrapped = JSON.parse(row.result ?? "{}") as { payload?: unknown };
    return { status: "resumed", payload: wrapped.payload ?? null };
  }
  return { status: row.status };
}

/** The actions `awa.resolve_callback` takes. */
export type CallbackAction =
  | "check"
  | "resume"
  | "heartbeat"
  | "cancel"
  | "complete"
  | "fail"
  | "retry";

/** What `awa.resolve_callback` reports for a callback it found. */
export interface ResolvedCallbackRow {
  job_id: string;
  run_lease: string;
  state: string;
  /** False when the action does not apply to the attempt's state; nothing was written. */
  applied: boolean;
  held: string | null;
  /** Runtime that claimed the attempt. */
  instance_id: string | null;
}

/** Arguments of one resolution. */
export interface ResolveArgs {
  payload?: unknown;
  error?: string;
  timeoutS?: number;
  dlqDefault?: boolean;
}

/**
 * Apply `action` to callback `callbackId` (`awa.resolve_callback`); null when the id is
 * unknown, resolved, superseded or stale (nothing written).
 */
export async function resolveCallback(
  store: Store,
  callbackId: string,
  action: CallbackAction,
  args: ResolveArgs = {},
): Promise<ResolvedCallbackRow | null> {
  const rows = await store.run<ResolvedCallbackRow>(
    "resolveCallback",
    `SELECT job_id::text, run_lease::text, state, applied, held, instance_id::text
FROM {{schema}}.resolve_callback($1::uuid, $2, $3::text::jsonb, $4, $5, $6)`,
    [
      callbackId,
      action,
      args.payload === undefined ? null : JSON.stringify(args.payload),
      args.error ?? null,
      args.timeoutS ?? null,
      args.dlqDefault ?? false,
    ],
  );
  return rows[0] ?? null;
}

/** A registered callback as `callbackExpressions` reads it. */
export interface CallbackRow extends CallbackExpressionsText {
  jobId: number;
  state: string;
}

/** The CEL expressions of a registered callback, or null when no attempt has it. */
export async function callbackExpressions(
  store: Store,
  callbackId: string,
): Promise<CallbackRow | null> {
  const rows = await store.run<{
    job_id: string;
    state: string;
    callback_filter: string | null;
    callback_on_complete: string | null;
    callback_on_fail: string | null;
    callback_transform: string | null;
  }>(
    "callbackExpressions",
    `SELECT job_id::text, state::text, callback_filter, callback_on_complete, callback_on_fail,
  callback_transform
FROM {{schema}}.attempt_state WHERE callback_id = $1::uuid`,
    [callbackId],
  );
  const r = rows[0];
  if (r === undefined) return null;
  return {
    jobId: Number(r.job_id),
    state: r.state,
    filter: r.callback_filter,
    onComplete: r.callback_on_complete,
    onFail: r.callback_on_fail,
    transform: r.callback_transform,
  };
}

/** One attempt the timeout scan closed. */
export interface ExpiredCallbackRow {
  job_id: string;
  run_lease: string;
  state: string;
  held: string | null;
  callback_id: string;
  parked: boolean;
}

/** Close up to `limit` attempts past their callback deadline (`awa.expire_callbacks`). */
export function expireCallbacks(
  store: Store,
  limit: number,
  dlqDefault: boolean,
): Promise<ExpiredCallbackRow[]> {
  return store.run<ExpiredCallbackRow>(
    "expireCallbacks",
    `SELECT job_id::text, run_lease::text, state, held, callback_id::text, parked
FROM {{schema}}.expire_callbacks($1, $2)`,
    [limit, dlqDefault],
  );
}
