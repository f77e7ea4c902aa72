/**
 * What the admin layer returns for a job: {@link JobRecord}, built from a storage row by
 * {@link toJobRecord}, with one {@link AttemptRecord} per attempt that left a trace.
 * @module
 */
import type { JobState } from "../hash.ts";
import type { JobRow, Plane } from "../storage/admin_jobs.ts";

/** One attempt of a job. Timings are known for attempts claimed by this release or later. */
export interface AttemptRecord {
  /** Attempt number, from 1. */
  attempt: number;
  /** When a worker claimed the attempt, when known. */
  startedAt: Date | null;
  /** When the attempt ended; null while it runs. */
  finishedAt: Date | null;
  /** `finishedAt - startedAt` in ms, when both are known. */
  durationMs: number | null;
  /** Runtime instance (`Client` instance id) that ran it, when known. */
  instanceId: string | null;
  /** The error it ended with; null for a completion or a running attempt. */
  error: string | null;
  /** Whether the error was terminal (no retry). */
  terminal: boolean;
}

/** Why and since when a failed job is held. */
export interface HoldRecord {
  /** `dlq`: in the dead letter queue; `failed`: kept for inspection. */
  kind: "dlq" | "failed";
  /** Why it was held (`terminal_error`, `max_attempts_exhausted`, `manual`, …). */
  reason: string;
  /** When it was held. */
  heldAt: Date;
}

/**
 * A job's state as the admin layer reports it: a {@link JobState}, or `waiting` for a job held
 * back before its queue, for a slot of its concurrency key (plane `key_waiting`) or for its flow
 * parents to finish (plane `flow_waiting`).
 */
export type AdminJobState = JobState | "waiting";

/** A job as an operator sees it, from whichever plane holds it. */
export interface JobRecord {
  /** Job id. */
  id: number;
  /** Job kind. */
  kind: string;
  /** Queue it is in (or ran in). */
  queue: string;
  /** Current state; a held job is `failed` (see {@link JobRecord.hold}). */
  state: AdminJobState;
  /** 1 (highest) to 4. */
  priority: number;
  /** Attempts made (the running one included). */
  attempt: number;
  /** Attempts allowed. */
  maxAttempts: number;
  /** Job arguments. */
  args: unknown;
  /** Metadata given at insert. */
  metadata: Record<string, unknown>;
  /** Tags given at insert. */
  tags: string[];
  /** Last progress the handler saved (`ctx` progress), or null. */
  progress: unknown;
  /** What the handler returned, for completed jobs that recorded one. */
  result: unknown;
  /** When it is (or was) due; null for held jobs. */
  runAt: Date | null;
  /** When it was inserted. */
  createdAt: Date;
  /** When its latest attempt was claimed. */
  attemptedAt: Date | null;
  /** When it reached its final (or held) state. */
  finalizedAt: Date | null;
  /** Every attempt that left a trace, oldest first. */
  attempts: AttemptRecord[];
  /** For held jobs (failed, DLQ): the hold. */
  hold: HoldRecord | null;
  /** For jobs in history: when the record expires. */
  expiresAt: Date | null;
  /** Hex of the job's unique key, if it has one. */
  uniqueKey: string | null;
  /** Where the job was found (storage plane), for diagnostics. */
  plane: Plane;
  /**
   * The callback its open attempt registered (a parked or waiting job's, see
   * docs/callbacks.md), or null.
   */
  callbackId: string | null;
  /** When that callback times out, or null. */
  callbackTimeoutAt: Date | null;
}

interface ErrorEntry {
  error?: unknown;
  attempt?: unknown;
  at?: unknown;
  started_at?: unknown;
  instance_id?: unknown;
  terminal?: unknown;
}

const dateOf = (v: unknown): Date | null => typeof v === "string" ? new Date(v) : null;

function attempt(
  n: number,
  startedAt: Date | null,
  finishedAt: Date | null,
  instanceId: string | null,
  error: string | null,
  terminal: boolean,
): AttemptRecord {
  const durationMs = startedAt && finishedAt ? finishedAt.getTime() - startedAt.getTime() : null;
  return { attempt: n, startedAt, finishedAt, durationMs, instanceId, error, terminal };
}

/** The attempts recorded in a job's errors, plus its running or completed attempt. */
function attemptsOf(row: JobRow): AttemptRecord[] {
  const out = (row.errors ?? []).map((e) => {
    const x = (e ?? {}) as ErrorEntry;
    return attempt(
      typeof x.attempt === "number" ? x.attempt : 0,
      dateOf(x.started_at),
      dateOf(x.at),
      typeof x.instance_id === "string" ? x.instance_id : null,
      typeof x.error === "string" ? x.error : null,
      x.terminal === true,
    );
  });
  if (row.plane === "running") {
    out.push(attempt(row.attempt, row.attempted_at, null, row.instance_id, null, false));
  } else if (row.state === "completed") {
    out.push(attempt(row.attempt, row.attempted_at, row.finalized_at, null, null, false));
  }
  return out;
}

/** A storage row as a {@link JobRecord}. */
export function toJobRecord(row: JobRow): JobRecord {
  return {
    id: Number(row.id),
    kind: row.kind,
    queue: row.queue,
    state: row.state as AdminJobState,
    priority: row.priority,
    attempt: row.attempt,
    maxAttempts: row.max_attempts,
    args: row.args,
    metadata: row.metadata,
    tags: row.tags,
    progress: row.progress ?? null,
    result: row.result ?? null,
    runAt: row.run_at,
    createdAt: row.created_at,
    attemptedAt: row.attempted_at,
    finalizedAt: row.finalized_at,
    attempts: attemptsOf(row),
    hold: row.hold_kind === null ? null : {
      kind: row.hold_kind as "dlq" | "failed",
      reason: row.hold_reason ?? "",
      heldAt: row.finalized_at!,
    },
    expiresAt: row.expires_at,
    uniqueKey: row.unique_key,
    plane: row.plane,
    callbackId: row.callback_id ?? null,
    callbackTimeoutAt: row.callback_timeout_at ?? null,
  };
}

/** A page of a listing. */
export interface Page<T> {
  /** The items, newest first by id. */
  items: T[];
  /** Pass as `cursor` for the next page; null when this was the last. */
  nextCursor: string | null;
}

/** What a bulk operation did. */
export interface BulkResult {
  /** Jobs the operation changed. */
  count: number;
  /** Jobs it looked at (matching the filter when it read them). */
  examined: number;
  /** Batches (transactions, outside a caller's transaction) it took. */
  batches: number;
}
