/**
 * Public types of the worker runtime: jobs as handlers see them, handler outcomes, queue
 * configuration and lifecycle events.
 * @module
 */
import type { JobDefinition } from "../job.ts";
import type { Outcome, OutcomeConstructors, OutcomeEvents } from "./outcomes.ts";
import type { CallbackMethods } from "./callbacks.ts";

export type { Outcome } from "./outcomes.ts";

/** A claimed job, as its handler sees it. */
export interface Job<A> {
  /** The job's id. */
  id: number;
  /** The job's kind, as given to `defineJob`. */
  kind: string;
  /** The job's arguments. */
  args: A;
  /** The queue the job was claimed from. */
  queue: string;
  /** Priority, 1 (first) to 4. */
  priority: number;
  /** This attempt's number, starting at 1. */
  attempt: number;
  /** Attempts allowed in all. */
  maxAttempts: number;
  /** Tags given at insert. */
  tags: string[];
  /** Free-form metadata given at insert (and updated by `ctx.updateMetadata`). */
  metadata: Record<string, unknown>;
  /** When the job was first inserted. */
  insertedAt: Date;
  /** When the job became due (insert time, or its scheduled / retry time). */
  runAt: Date;
  /** Guard of this attempt: every write for it is checked against `(id, runLease)`. */
  runLease: number;
  /** Progress saved by an earlier attempt (checkpoint), or null. */
  progress: Progress | null;
  /** Errors of earlier attempts, oldest first. */
  errors: JobError[];
  /** When the runtime gives up on this attempt (rescue by deadline), or null. */
  deadlineAt: Date | null;
}

/** One recorded failure of an attempt. */
export interface JobError {
  /** The error text (`Name: message` for thrown errors). */
  error: string;
  /** The attempt that failed. */
  attempt: number;
  /** When it failed, as an ISO 8601 timestamp. */
  at: string;
  /** True when the failure ended the job (a terminal error). */
  terminal?: boolean;
}

/** Progress of a job: percent (0-100), a message and free-form checkpoint metadata. */
export interface Progress {
  /** Percent done, 0 to 100. */
  percent: number;
  /** A short message, or null. */
  message: string | null;
  /** Checkpoint data the next attempt reads back. */
  metadata: Record<string, unknown>;
}

/**
 * What a handler gets besides the job; its outcome constructors are in outcomes.ts, its
 * callback methods in callbacks.ts.
 */
export interface JobContext extends OutcomeConstructors, CallbackMethods {
  /**
   * Aborted when this attempt should stop; `signal.reason` says why, as an error class
   * exported from the module (each with a stable `code`):
   * - `JobCancelledError` (`JOB_CANCELLED`): an operator cancelled the running job
   *   (`awa.cancel_job`, `cancelByUniqueKey`); the job is already cancelled.
   * - `JobRescuedError` (`JOB_RESCUED`): maintenance rescued the attempt because its heartbeat
   *   went stale; the job may already run elsewhere.
   * - `DeadlineExceededError` (`DEADLINE_EXCEEDED`): the attempt ran past the queue's
   *   `deadlineMs` (noticed locally, or by a deadline rescue).
   * - `ShutdownAbortError` (`SHUTDOWN`): `shutdown()` timed out while the handler ran; the
   *   attempt goes back uncounted and the job runs again.
   *
   * In every case the handler's eventual outcome is ignored.
   */
  readonly signal: AbortSignal;
  /** Record progress (0-100, clamped) and a message; saved with the next flush or outcome. */
  setProgress(percent: number, message?: string): void;
  /** Shallow-merge keys into the progress checkpoint metadata. */
  updateMetadata(patch: Record<string, unknown>): void;
  /** Write pending progress now; returns false when the attempt is no longer current. */
  flushProgress(): Promise<boolean>;
}

/**
 * A handler: return (or resolve with) the job's result, of the definition's result type `R`,
 * to complete the job; the result is stored with it as JSON (at most `MAX_RESULT_BYTES`). Or
 * return an {@link Outcome} built by `ctx` (retry, snooze, cancel), or throw.
 */
export type Handler<A, R = unknown> = (
  job: Job<A>,
  ctx: JobContext,
) => Promise<R | Outcome> | R | Outcome;

/** Token-bucket rate limit of one queue, per process. */
export interface RateLimit {
  /** Sustained claims per second, from 0.001 to 1 000 000. */
  perSecond: number;
  /** Bucket size, an integer from 1 to 1 000 000. Default `max(1, ceil(perSecond))`. */
  burst?: number;
}

/**
 * Configuration of one queue served by a client. Unknown keys are rejected, and every value is
 * checked against the range given here (a `ValidationError` names the field).
 *
 * **Open attempts.** An attempt is open in the database from its claim until its outcome
 * commits. A worker starts its next job as soon as its handler returns, while that outcome
 * waits for the completer's next group flush. Per process and queue, the database shows at
 * most `2 × maxWorkers + prefetch` open attempts: `maxWorkers + prefetch` running or held,
 * plus at most `maxWorkers` finished ones whose outcome has not committed yet (beyond that,
 * pending outcomes hold back the next claim). See docs/delivery.md.
 */
export interface QueueConfig {
  /**
   * Handlers of this queue running at once in this process, 1–10 000. Default 50. Together
   * with `prefetch` it bounds the attempts this process holds open in the database to
   * `2 × maxWorkers + prefetch` (see above).
   */
  maxWorkers?: number;
  /** Fallback poll when no notification arrives, in ms, from 10 to 3 600 000. Default 200. */
  pollIntervalMs?: number;
  /**
   * Rescue an attempt running longer than this, in ms, up to 86 400 000 (one day); 0
   * disables. Default 300 000 (5 min).
   */
  deadlineMs?: number;
  /** Most jobs one claim takes, 1–4096. Default 512. */
  claimBatchSize?: number;
  /**
   * Jobs claimed ahead of free workers and held in this process until a worker frees up, so
   * short jobs never wait on a claim round trip; 0–10 000. Held jobs are open attempts: other
   * processes and fleet-wide counts see them as running, and the process holds at most
   * `2 × maxWorkers + prefetch` open attempts (see above). Keep it at 0 (the default) for long jobs or many
   * competing processes, raise it (e.g. 256–1000) for high rates of short jobs. A held job not
   * started within half the deadline is handed back without counting an attempt.
   */
  prefetch?: number;
  /**
   * A waiting job's effective priority improves by one per interval, in ms, up to 86 400 000;
   * 0 disables. Default 60 000.
   */
  priorityAgingMs?: number;
  /** Optional claim rate limit. */
  rateLimit?: RateLimit;
  /**
   * Permits of the weighted pool (`ClientOptions.globalMaxWorkers`) this queue always keeps,
   * 0–10 000. Default 0. Only with `globalMaxWorkers`; the guarantees together must not exceed it.
   */
  minWorkers?: number;
  /**
   * This queue's share of the weighted pool's overflow (`globalMaxWorkers − Σ minWorkers`)
   * against the other queues that want permits, 1–10 000. Default 1. Only with
   * `globalMaxWorkers`.
   */
  weight?: number;
}

/**
 * Heartbeat of running attempts. Worker and rescue share these settings: a worker heartbeats
 * its attempts every `intervalMs`, and the maintenance leader rescues an attempt whose
 * heartbeat is older than `stalenessMs`, so every client of one database should use the same
 * values. Unknown keys are rejected.
 */
export interface HeartbeatOptions {
  /** How often a worker records the heartbeat of its attempts, in ms, 1 to 1 day. Default 30 000. */
  intervalMs?: number;
  /**
   * An attempt without heartbeat for this long, in ms, is rescued; also how long a pending
   * outcome is retried during an outage. At least 3 × `intervalMs`, at most 1 day. Default
   * 90 000.
   */
  stalenessMs?: number;
}

/** The notification (LISTEN) connection's self-check. Unknown keys are rejected. */
export interface NotifierOptions {
  /**
   * How often the notification connection proves, with a notice to itself, that notices still
   * arrive, and LISTENs again when one goes missing, in ms; 1 to 1 hour. Default 10 000.
   */
  checkIntervalMs?: number;
}

/**
 * Events emitted after the transition they describe has committed: those of handler outcomes
 * (see outcomes.ts), and the runtime's own.
 */
export interface ClientEvents extends OutcomeEvents {
  /**
   * This client, as maintenance leader, rescued an attempt: its heartbeat went stale, it ran
   * past its deadline, or its callback timed out (`callback`, from the `callbackTimeouts`
   * service). Emitted only by the process that leads, whichever process ran the attempt.
   */
  rescued: {
    jobId: number;
    runLease: number;
    reason: "heartbeat" | "deadline" | "callback";
    state: string;
  };
  /**
   * A handler of this client parked its job on a callback (`parked` true, after the park
   * committed) or began a sequential wait (`parked` false, once the job is `waiting_external`).
   */
  waitingForCallback: { job: Job<unknown>; callbackId: string; parked: boolean };
  /** A sequential wait of this client received the payload of `resumeExternal`. */
  callbackResumed: { job: Job<unknown>; callbackId: string; payload: unknown };
  /**
   * A callback of an attempt this client claimed was resolved, by any process
   * (`resumeExternal`, `completeExternal`, `failExternal`, `retryExternal`, `heartbeatCallback`,
   * `cancelCallback`, `resolveCallback`). `state` is the job's state after it. Best effort: sent
   * by NOTIFY at commit, lost if this client is not listening then.
   */
  callbackResolved: {
    jobId: number;
    runLease: number;
    callbackId: string;
    action: "resume" | "heartbeat" | "cancel" | "complete" | "fail" | "retry";
    state: string;
  };
  /** A completion arrived for an attempt that was no longer current; nothing was written. */
  stale: { job: Job<unknown>; outcome: string };
  /** An internal operation failed; the runtime keeps going. */
  error: { error: unknown; where: string };
}

/** A registered worker. */
export interface WorkerEntry {
  def: JobDefinition<unknown>;
  handler: Handler<unknown>;
}
