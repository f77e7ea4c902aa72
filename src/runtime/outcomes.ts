/**
 * The outcome table: every way this runtime ends an attempt, declared once in {@link OUTCOMES}.
 * An entry says
 * - where the outcome comes from: a `ctx.*` constructor the handler returns the result of
 *   (`ctx`), a plain return value or a thrown error ({@link fromReturned}, {@link fromThrown}),
 *   or the dispatcher itself (`release`, the hand-back of an attempt that never ran);
 * - the finalize item it becomes: `outcome` (the closure outcome SQL records), the plan from
 *   policy.ts (`state`, `delay_s`), error text, result and progress;
 * - the event it emits once the item has committed, for each state the job can reach there
 *   (SQL may cancel a deferred job whose unique key another job holds: see policy.ts).
 *
 * The dispatcher and the context only consult this table. A new outcome (say
 * `waitForCallback`) is its constructor in {@link OutcomeConstructors}, its events in
 * {@link OutcomeEvents} and {@link OUTCOME_EVENT_NAMES}, its name in {@link ContextOutcome}, its
 * entry in {@link OUTCOMES} (all in this file; `deno check` fails while one is missing), and its
 * transition in `awa.finalize_attempts`.
 *
 * Rescue outcomes (`rescue_unstarted`, `rescue_heartbeat`, `rescue_deadline`) end attempts of
 * any runtime, possibly a dead one; `awa.rescue_candidates` builds their items in SQL, and the
 * maintenance leader reports them with the `rescued` event. They are only named here.
 * @module
 */
import { TerminalError, ValidationError } from "../errors.ts";
import {
  type NextState,
  type Plan,
  planCancel,
  planComplete,
  planDefer,
  planFail,
  planRetry,
} from "./policy.ts";
import type { FinalizedRow, FinalizeItem } from "../storage/attempts.ts";
import type { Job } from "./types.ts";
import { checkCallbackId } from "../callbacks/ids.ts";
import { contractViolation } from "./callbacks.ts";
import { storedResult } from "../results/cap.ts";

/** Outcomes a handler builds with a `ctx.*` constructor (the `type` of an {@link Outcome}). */
export type ContextOutcome = "retry" | "snooze" | "cancel" | "park";

/**
 * A non-default handler outcome; build one with `ctx.retryAfter`, `ctx.snooze`, `ctx.cancel` or
 * `ctx.park`.
 * Only outcomes the context built count: a look-alike object is a plain completion result.
 */
export interface Outcome {
  /** Which outcome this is. */
  readonly type: ContextOutcome;
  /** For `retry` and `snooze`: the delay before the job runs again, in ms. */
  readonly delayMs?: number;
  /** For `cancel`: why the job was cancelled. */
  readonly reason?: string;
  /** For `park`: the callback the job waits on. */
  readonly callbackId?: string;
}

/** The outcome constructors of the handler context (part of `JobContext`). */
export interface OutcomeConstructors {
  /** Retry after `ms` milliseconds; counts as an attempt. Return the result from the handler. */
  retryAfter(ms: number): Outcome;
  /** Run again after `ms` milliseconds without counting an attempt. Return it from the handler. */
  snooze(ms: number): Outcome;
  /** Cancel the job for good. Return it from the handler. */
  cancel(reason: string): Outcome;
  /**
   * Wait for callback `callbackId` (from `ctx.registerCallback`) without holding the worker:
   * the job goes to `waiting_external` and the slot is freed at once; `completeExternal`,
   * `failExternal`, `retryExternal`, `resolveCallback` or the callback's timeout end it. Return
   * it from the handler. Without that callback registered the job fails
   * (`wait_for_callback_contract_violation`).
   */
  park(callbackId: string): Outcome;
}

/** Events of committed outcomes (part of `ClientEvents`). */
export interface OutcomeEvents {
  /** The handler returned; `result` is its return value, `durationMs` the handler's run time. */
  completed: { job: Job<unknown>; result: unknown; durationMs: number };
  /** The attempt failed and the job runs again at `runAt` (null when the time is not known). */
  retried: { job: Job<unknown>; error: string; runAt: Date | null };
  /** The handler snoozed; the job runs again at `runAt`, without counting an attempt. */
  snoozed: { job: Job<unknown>; runAt: Date | null };
  /**
   * The job was cancelled: by its handler (`ctx.cancel(reason)`), or by an operator while this
   * process held its attempt (`reason` is then `"cancelled while running"`; the operator's text
   * is in the job's errors). Emitted once per attempt, when the cancel reaches it; the
   * handler's late outcome then emits nothing more.
   */
  cancelled: { job: Job<unknown>; reason: string };
  /** The job failed for good because of a terminal error (TerminalError, unknown kind, bad args). */
  failed: { job: Job<unknown>; error: string; dlq: boolean };
  /** The job failed for good because it ran out of attempts. */
  exhausted: { job: Job<unknown>; error: string; dlq: boolean };
}

/** The name of every event of {@link OutcomeEvents}; the Record type keeps the list complete. */
export const OUTCOME_EVENT_NAMES: Readonly<Record<keyof OutcomeEvents, true>> = Object.freeze({
  completed: true,
  retried: true,
  snoozed: true,
  cancelled: true,
  failed: true,
  exhausted: true,
});

/** One event ready to emit: its name and payload. */
export type OutcomeEvent = {
  [E in keyof OutcomeEvents]: { name: E; payload: OutcomeEvents[E] };
}[keyof OutcomeEvents];

/** Closure outcomes of rescue, written by `awa.rescue_candidates` items. */
export type RescueOutcome = "rescue_unstarted" | "rescue_heartbeat" | "rescue_deadline";

/** What an entry's event builders see: the committed row and what the attempt decided. */
export interface Committed<P> {
  job: Job<unknown>;
  row: FinalizedRow;
  payload: P;
  /** From the handler's start to the commit, in ms. */
  durationMs: number;
}

/** One entry of the outcome table; `P` is what the outcome carries from its source. */
export interface OutcomeSpec<P, M extends keyof OutcomeConstructors = never> {
  /** `outcome` of the finalize item, recorded as the closure outcome. */
  wire: string;
  /** The `ctx` constructor building it; `build` checks the arguments. */
  ctx?: { method: M; build(...args: Parameters<OutcomeConstructors[M]>): P };
  /** Where the job goes (policy.ts). */
  plan(job: Job<unknown>, payload: P): Plan;
  /** Error text and result the item records. */
  fields?(payload: P): Pick<FinalizeItem, "error" | "result">;
  /** Whether the item saves the attempt's progress into the job (all but a completion). */
  keepsProgress: boolean;
  /** The event per state the job reached; a state without one emits nothing. */
  events: { [S in NextState]?: (c: Committed<P>) => OutcomeEvent };
}

function outcome<P, M extends keyof OutcomeConstructors = never>(
  spec: OutcomeSpec<P, M>,
): OutcomeSpec<P, M> {
  return spec;
}

/** Error text of a retry the handler asked for with `ctx.retryAfter`. */
const RETRY_REQUESTED = "retry requested by handler";
/** Longest error text a thrown error records, in characters. */
const MAX_ERROR_CHARS = 10_000;

function checkDelay(ms: unknown, field: string): number {
  if (typeof ms !== "number" || !Number.isFinite(ms) || ms < 0) {
    throw new ValidationError(field, "must be a finite number of milliseconds ≥ 0");
  }
  return ms;
}

/** A deferred job whose unique key another job holds is cancelled instead (SQL decides). */
function duplicateCancelled<P>(reason: (p: P) => string) {
  return (c: Committed<P>): OutcomeEvent => ({
    name: "cancelled",
    payload: { job: c.job, reason: reason(c.payload) },
  });
}

/** A job failed for good: `failed` for a terminal error, `exhausted` out of attempts. */
function failedEvent<P>(name: "failed" | "exhausted", error: (p: P) => string) {
  return (c: Committed<P>): OutcomeEvent => ({
    name,
    payload: { job: c.job, error: error(c.payload), dlq: c.row.held === "dlq" },
  });
}

type RetryPayload = { delayMs: number | null; error?: string };
const retryError = (p: RetryPayload) => p.error ?? RETRY_REQUESTED;

/** Every outcome of an attempt this runtime ran (or held), by name. */
export const OUTCOMES = {
  /** The handler returned a value that is not an {@link Outcome}. */
  complete: outcome<{ result: unknown; json: unknown }>({
    wire: "completed",
    plan: () => planComplete(),
    fields: (p) => ({ result: p.json }),
    keepsProgress: false,
    events: {
      completed: (c) => ({
        name: "completed",
        payload: { job: c.job, result: c.payload.result, durationMs: c.durationMs },
      }),
    },
  }),
  /** `ctx.retryAfter(ms)`, or any thrown error but a TerminalError (after the backoff). */
  retry: outcome<RetryPayload, "retryAfter">({
    wire: "retry",
    ctx: { method: "retryAfter", build: (ms) => ({ delayMs: checkDelay(ms, "retryAfter(ms)") }) },
    plan: (job, p) => planRetry(job.attempt, job.maxAttempts, p.delayMs),
    fields: (p) => ({ error: retryError(p).slice(0, MAX_ERROR_CHARS) }),
    keepsProgress: true,
    events: {
      retryable: (c) => ({
        name: "retried",
        payload: { job: c.job, error: retryError(c.payload), runAt: c.row.run_at },
      }),
      failed: failedEvent("exhausted", retryError),
      cancelled: duplicateCancelled(retryError),
    },
  }),
  /** `ctx.snooze(ms)`: run again later, the attempt not counted. */
  snooze: outcome<{ delayMs: number }, "snooze">({
    wire: "snooze",
    ctx: { method: "snooze", build: (ms) => ({ delayMs: checkDelay(ms, "snooze(ms)") }) },
    plan: (_job, p) => planDefer(p.delayMs),
    keepsProgress: true,
    events: {
      scheduled: (c) => ({ name: "snoozed", payload: { job: c.job, runAt: c.row.run_at } }),
      cancelled: duplicateCancelled(() => ""),
    },
  }),
  /** `ctx.cancel(reason)`: the job ends cancelled. */
  cancel: outcome<{ reason: string }, "cancel">({
    wire: "cancel",
    ctx: { method: "cancel", build: (reason) => ({ reason: String(reason ?? "") }) },
    plan: () => planCancel(),
    fields: (p) => ({ error: p.reason }),
    keepsProgress: true,
    events: { cancelled: duplicateCancelled((p) => p.reason) },
  }),
  /**
   * `ctx.park(callbackId)`: parked in `waiting_external` by src/runtime/callbacks.ts, which
   * emits `waitingForCallback`. The finalize item here is the fallback used only when the
   * callback is not registered on the attempt: the job fails with the contract violation.
   */
  park: outcome<{ callbackId: string }, "park">({
    wire: "fail",
    ctx: {
      method: "park",
      build: (id) => ({ callbackId: checkCallbackId(id, "park(callbackId)") }),
    },
    plan: () => planFail(),
    fields: (p) => ({ error: contractViolation(p.callbackId) }),
    keepsProgress: true,
    events: { failed: failedEvent("failed", (p) => contractViolation(p.callbackId)) },
  }),
  /** A thrown TerminalError, an unknown kind or invalid args: failed whatever attempts remain. */
  fail: outcome<{ error: string }>({
    wire: "fail",
    plan: () => planFail(),
    fields: (p) => ({ error: p.error.slice(0, MAX_ERROR_CHARS) }),
    keepsProgress: true,
    events: { failed: failedEvent("failed", (p) => p.error) },
  }),
  /**
   * Hand-back of an attempt that never ran its handler (held too long, its start not recorded,
   * or released at shutdown): due again at once, uncounted, progress kept, no event.
   */
  release: outcome<Record<never, never>>({
    wire: "snooze",
    plan: () => planDefer(0),
    keepsProgress: true,
    events: {},
  }),
};

/** Name of an entry of {@link OUTCOMES}. */
export type OutcomeName = keyof typeof OUTCOMES;

/** What an attempt ended with: an entry of the table and its payload. */
export type Decided = {
  [K in OutcomeName]: { name: K; payload: PayloadOf<K> };
}[OutcomeName];

type PayloadOf<K extends OutcomeName> = (typeof OUTCOMES)[K] extends OutcomeSpec<infer P, infer _M>
  ? P
  : never;

/**
 * `outcome` of a finalize item: a `wire` name of the table or a rescue kind built in SQL. (The
 * table's names are typed `string`: an entry's payload type is given explicitly, so its wire
 * literal cannot be inferred as well.)
 */
export type WireOutcome = (typeof OUTCOMES)[OutcomeName]["wire"] | RescueOutcome;

/** The `ctx` method of each entry that has one. */
type CtxMethodOf = {
  [K in OutcomeName]: (typeof OUTCOMES)[K] extends OutcomeSpec<infer _P, infer M> ? M : never;
}[OutcomeName];
/** The entries that have a `ctx` method. */
type CtxEntry = {
  [K in OutcomeName]: (typeof OUTCOMES)[K] extends OutcomeSpec<infer _P, never> ? never : K;
}[OutcomeName];
/**
 * Compile-time proof that every constructor of {@link OutcomeConstructors} is some entry's
 * `ctx`, and that {@link ContextOutcome} names exactly those entries: a miss fails `deno check`.
 */
const _tableIsComplete: [
  | Exclude<keyof OutcomeConstructors, CtxMethodOf>
  | Exclude<ContextOutcome, CtxEntry>
  | Exclude<
    CtxEntry,
    ContextOutcome
  >,
] extends [never] ? true : never = true;

/** Outcomes built by the context, with what they decided. */
const built = new WeakMap<object, Decided>();

function makeOutcome(d: Decided & { name: ContextOutcome }): Outcome {
  const o = Object.freeze({ type: d.name, ...d.payload }) as unknown as Outcome;
  built.set(o, d);
  return o;
}

function constructorsOf(): OutcomeConstructors {
  const ctors: Record<string, (...args: unknown[]) => Outcome> = {};
  for (const [name, spec] of Object.entries(OUTCOMES)) {
    // Each entry's `build` is typed by its own constructor; here they are walked generically.
    const ctx = (spec as { ctx?: { method: string; build(...args: unknown[]): unknown } }).ctx;
    if (ctx === undefined) continue;
    ctors[ctx.method] = (...args) =>
      makeOutcome({ name, payload: ctx.build(...args) } as Decided & { name: ContextOutcome });
  }
  return Object.freeze(ctors) as unknown as OutcomeConstructors;
}

/** The `ctx.*` outcome constructors, the same for every attempt. */
export const outcomeConstructors: OutcomeConstructors = constructorsOf();

/** True when a handler's return value is an outcome built by the context. */
export function isOutcome(value: unknown): value is Outcome {
  return typeof value === "object" && value !== null && built.has(value);
}

/**
 * The outcome of a handler's return value: its own when built by `ctx.*`, else a completion
 * with the value as result. Throws when the result cannot be stored as JSON (a BigInt, a
 * cycle): the handler then failed like any thrower; a result over the cap throws a terminal
 * `ResultTooLargeError`, which fails the job for good.
 */
export function fromReturned(value: unknown): Decided {
  if (isOutcome(value)) return built.get(value)!;
  return { name: "complete", payload: { result: value, json: storedResult(value) } };
}

function errorText(err: unknown): string {
  if (err instanceof Error) return `${err.name}: ${err.message}`;
  return String(err);
}

/** The outcome of a thrown error: a TerminalError fails the job, anything else retries it. */
export function fromThrown(err: unknown): Decided {
  const error = errorText(err);
  if (err instanceof TerminalError) return { name: "fail", payload: { error } };
  return { name: "retry", payload: { delayMs: null, error } };
}

function specOf(d: Decided): OutcomeSpec<unknown, keyof OutcomeConstructors> {
  return OUTCOMES[d.name] as OutcomeSpec<unknown, keyof OutcomeConstructors>;
}

/** The attempt a finalize item addresses (its receipt) and what the outcome needs of it. */
export interface AttemptRef {
  claimSlot: number;
  batchId: string;
  idx: number;
  job: Job<unknown>;
  /** The attempt's progress now; saved with every outcome that keeps progress. */
  progress: unknown;
}

/** The finalize item an outcome becomes, with the plan of policy.ts as `state` and `delay_s`. */
export function finalizeItemOf(a: AttemptRef, d: Decided): FinalizeItem {
  const spec = specOf(d);
  const plan = spec.plan(a.job, d.payload);
  const item: FinalizeItem = {
    claim_slot: a.claimSlot,
    batch_id: a.batchId,
    idx: a.idx,
    job_id: a.job.id,
    run_lease: a.job.runLease,
    outcome: spec.wire as WireOutcome,
    state: plan.state,
    ...spec.fields?.(d.payload),
  };
  if (plan.delaySeconds !== null) item.delay_s = plan.delaySeconds;
  if (spec.keepsProgress) item.progress = a.progress;
  return item;
}

/** The event of a committed outcome, or null when the state it reached emits none. */
export function eventOf(
  d: Decided,
  c: Omit<Committed<unknown>, "payload">,
): OutcomeEvent | null {
  const build = specOf(d).events[c.row.state as NextState];
  return build ? build({ ...c, payload: d.payload }) : null;
}
