/**
 * A job's outcome as a waiter sees it: still going, completed with its result, or ended without
 * one (a {@link JobFailedError}). Read from whichever plane holds the job, history included, so
 * a result is readable exactly as long as its completed job is retained.
 * @module
 */
import { findJob } from "../admin/jobs.ts";
import {
  JobFailedError,
  type JobFailureEntry,
  JobNotFoundError,
  ValidationError,
} from "../errors.ts";
import type { JobRow } from "../storage/admin_jobs.ts";
import { readJobEnd } from "../storage/results.ts";
import type { Store } from "../storage/store.ts";

/** Where a job stands for its waiter. */
export type Outcome =
  | { done: false; state: string; kind: string }
  | { done: true; kind: string; result: unknown }
  | { done: true; kind: string; error: JobFailedError };

function failureEntries(errors: unknown[] | null): JobFailureEntry[] {
  return (errors ?? []).map((e) => {
    const o = (typeof e === "object" && e !== null ? e : {}) as Record<string, unknown>;
    return {
      error: String(o.error ?? ""),
      attempt: Number(o.attempt ?? 0),
      at: String(o.at ?? ""),
    };
  });
}

/** The outcome of a job in `state` (with its result, errors and hold kind when it ended). */
function outcomeIn(
  id: number,
  kind: string,
  row: Pick<JobRow, "state" | "result" | "errors" | "hold_kind">,
  held: boolean,
): Outcome {
  if (row.state === "completed") return { done: true, kind, result: row.result ?? null };
  if (row.state === "cancelled" || row.state === "failed" || held) {
    const state = row.state === "cancelled" ? "cancelled" : "failed";
    const error = new JobFailedError(
      id,
      state,
      failureEntries(row.errors),
      row.hold_kind === "dlq",
    );
    return { done: true, kind, error };
  }
  return { done: false, state: row.state, kind };
}

/** The outcome of one job row. */
export function outcomeOf(row: JobRow): Outcome {
  return outcomeIn(Number(row.id), row.kind, row, row.plane === "held");
}

/**
 * The outcome of job `id` of `kind` if it has ended, else null (also for an unknown id: only
 * {@link readOutcome} tells the two apart).
 */
export async function readEnd(store: Store, id: number, kind: string): Promise<Outcome | null> {
  const row = await readJobEnd(store, id);
  return row === null ? null : outcomeIn(id, kind, row, row.hold_kind !== null);
}

/** The outcome of job `id`; {@link JobNotFoundError} when no plane holds it. */
export async function readOutcome(store: Store, id: number): Promise<Outcome> {
  const row = await findJob(store, BigInt(id));
  if (row === null) throw new JobNotFoundError(id);
  return outcomeOf(row);
}

/** Refuse a job of another kind than the definition the caller typed the wait with. */
export function checkKindMatches(id: number, outcome: Outcome, kind: string | null): void {
  if (kind !== null && outcome.kind !== kind) {
    throw new ValidationError(
      "id",
      `job ${id} is of kind "${outcome.kind}", not "${kind}" as the job definition says`,
    );
  }
}
