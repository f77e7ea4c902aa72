/**
 * Job policy of the worker runtime: the state an attempt's outcome sends its job to, and when a
 * deferred job runs again. Decided here, once, and passed to `awa.finalize_attempts` in every
 * finalize item as `state` and `delay_s` (see outcomes.ts, which picks a plan per outcome).
 *
 * Decisions that stay in SQL, because only the committing statement can make them safely:
 * - **The receipt guard.** An outcome applies only if its attempt is still open at commit; a
 *   rescue or cancel may close it between the handler's return and the flush.
 * - **Failed or DLQ.** A job planned as `failed` goes to the DLQ when its queue's
 *   `queue_meta.dlq_enabled` says so (else the client's default): operators change that row at
 *   any time, and reading it in the finalizing statement is what makes the choice consistent.
 * - **Unique keys.** A job returning to a state of its unique mask re-acquires its claim; when
 *   another job holds the key, the job is cancelled instead (closure outcome
 *   `<outcome>_duplicate_cancelled`). Claims are decided against `awa.job_unique_claims` under
 *   the statement's locks; the committed state (`FinalizedRow.state`) is therefore the one to
 *   report, not the plan.
 * - **Items built without this runtime.** `awa.cancel_job` (operators, `cancelByUniqueKey`), the
 *   rescue items `awa.rescue_candidates` builds for attempts of runtimes that may be gone, and
 *   other SQL callers send no `state`; `awa.finalize_attempts` then plans with the same table in
 *   SQL (and a deadline rescue takes `awa.backoff_duration`, the same formula as
 *   {@link retryBackoffSeconds}). tests/runtime/policy_test.ts pins the two to agree.
 * @module
 */
import type { FinalizeState } from "../storage/attempts.ts";

/** A state a finalized attempt leaves its job in (before SQL's unique-key and DLQ decisions). */
export type NextState = FinalizeState;

/** Where an outcome sends the job, as passed to `awa.finalize_attempts`. */
export interface Plan {
  state: NextState;
  /** For `retryable` and `scheduled`: seconds from commit until the job is due again. */
  delaySeconds: number | null;
}

/** Longest retry backoff, in seconds (24 h). */
export const MAX_BACKOFF_SECONDS = 86_400;

/**
 * Retry backoff after failed attempt number `attempt` (1 on the first run), in seconds:
 * `min(2^a + u · 0.25 · 2^a, 86 400)` with `u` uniform in [0, 1). Attempt 1 waits 2–2.5 s,
 * attempt 10 1024–1280 s, attempt 17 and later exactly 24 h (the jitter is added before the cap).
 */
export function retryBackoffSeconds(attempt: number, u: number = Math.random()): number {
  // Capped exponent: 2^30 is far past the cap and keeps the product finite.
  const base = 2 ** Math.min(Math.max(attempt, 0), 30);
  return Math.min(base + u * 0.25 * base, MAX_BACKOFF_SECONDS);
}

/** The handler's return value was a success. */
export function planComplete(): Plan {
  return { state: "completed", delaySeconds: null };
}

/**
 * A counted attempt failed and may run again: `retryable` after `delayMs` (the backoff when
 * null), or `failed` once `attempt >= maxAttempts`.
 */
export function planRetry(attempt: number, maxAttempts: number, delayMs: number | null): Plan {
  if (attempt >= maxAttempts) return { state: "failed", delaySeconds: null };
  return {
    state: "retryable",
    delaySeconds: delayMs === null ? retryBackoffSeconds(attempt) : delayMs / 1000,
  };
}

/** Run again after `delayMs` without counting the attempt (snooze, hand-back). */
export function planDefer(delayMs: number): Plan {
  return { state: "scheduled", delaySeconds: delayMs / 1000 };
}

/** The job ends cancelled, never in the DLQ. */
export function planCancel(): Plan {
  return { state: "cancelled", delaySeconds: null };
}

/** The job fails for good whatever attempts remain (terminal error). */
export function planFail(): Plan {
  return { state: "failed", delaySeconds: null };
}
