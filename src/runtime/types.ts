/**
 * Public types of the worker runtime: jobs as handlers see them, handler outcomes, queue
 * configuration and lifecycle events.
 * @module
 */
import type { JobDefinition } from "../job.ts";

/** A claimed job, as its handler sees it. */
export interface Job<A> {
  id: number;
  kind: string;
  args: A;
  queue: string;
  priority: number;
  /** This attempt's number, starting at 1. */
  attempt: number;
  maxAttempts: number;
  tags: string[];
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
  error: string;
  attempt: number;
  at: string;
  terminal?: boolean;
}

/** Progress of a job: percent (0-100), a message and free-form checkpoint metadata. */
export interface Progress {
  percent: number;
  message: string | null;
  metadata: Record<string, unknown>;
}

declare const outcomeBrand: unique symbol;

/** A non-default handler outcome; build one with `ctx.retryAfter`, `ctx.snooze` or `ctx.cancel`. */
export interface Outcome {
  readonly [outcomeBrand]: true;
  readonly type: "retry" | "snooze" | "cancel";
  readonly delayMs?: number;
  readonly reason?: string;
}

/** What a handler gets besides the job. */
export interface JobContext {
  /** Fires on shutdown (after the timeout), rescue, deadline and cancellation. */
  readonly signal: AbortSignal;
  /** Retry after `ms` milliseconds; counts as an attempt. Return the result from the handler. */
  retryAfter(ms: number): Outcome;
  /** Run again after `ms` milliseconds without counting an attempt. Return it from the handler. */
  snooze(ms: number): Outcome;
  /** Cancel the job for good. Return it from the handler. */
  cancel(reason: string): Outcome;
  /** Record progress (0-100, clamped) and a message; saved with the next flush or outcome. */
  setProgress(percent: number, message?: string): void;
  /** Shallow-merge keys into the progress checkpoint metadata. */
  updateMetadata(patch: Record<string, unknown>): void;
  /** Write pending progress now; returns false when the attempt is no longer current. */
  flushProgress(): Promise<boolean>;
}

/** A handler: resolve (with an optional JSON result) to complete the job. */
export type Handler<A> = (job: Job<A>, ctx: JobContext) => Promise<unknown> | unknown;

/** Token-bucket rate limit of one queue, per process. */
export interface RateLimit {
  /** Sustained claims per second (> 0). */
  perSecond: number;
  /** Bucket size. Default `max(1, ceil(perSecond))`. */
  burst?: number;
}

/** Configuration of one queue served by a client. */
export interface QueueConfig {
  /** Jobs of this queue running at once in this process. Default 50. */
  maxWorkers?: number;
  /** Fallback poll when no notification arrives, in ms. Default 200. */
  pollIntervalMs?: number;
  /** Rescue an attempt running longer than this, in ms; 0 disables. Default 300 000 (5 min). */
  deadlineMs?: number;
  /** Most jobs one claim takes. Default 512. */
  claimBatchSize?: number;
  /**
   * Jobs claimed ahead of free workers and held in this process until a worker frees up, so
   * short jobs never wait on a claim round trip. Held jobs count as running for other
   * processes: keep it at 0 (the default) for long jobs or many competing processes, raise it
   * (e.g. 256–1000) for high rates of short jobs. A held job not started within half the
   * deadline is handed back without counting an attempt.
   */
  prefetch?: number;
  /** A waiting job's effective priority improves by one per interval, in ms; 0 disables. Default 60 000. */
  priorityAgingMs?: number;
  /** Optional claim rate limit. */
  rateLimit?: RateLimit;
}

/** Maintenance and liveness timings (ms). Defaults suit production; tests shorten them. */
export interface RuntimeTimings {
  /** Heartbeat of in-flight attempts. Default 30 000. */
  heartbeatIntervalMs?: number;
  /** An attempt without heartbeat for this long is rescued. Default 90 000 (≥ 3 × interval). */
  heartbeatStalenessMs?: number;
  /** Promotion of due scheduled and retryable jobs. Default 250. */
  promoteIntervalMs?: number;
  /** Heartbeat and deadline rescue scans. Default 30 000. */
  rescueIntervalMs?: number;
  /** Ring rotation and prune. Default 1000. */
  rotateIntervalMs?: number;
  /** Leader election retry for followers. Default 10 000. */
  electionRetryMs?: number;
  /**
   * Leader connection check. Default 5000. A leader that cannot confirm its lock for 3 such
   * intervals (at least 1 s) stops reporting itself as leader; its steps are fenced regardless.
   */
  leaderPingMs?: number;
  /** Ledger trim and rollup fold. Default 30 000. */
  foldIntervalMs?: number;
  /**
   * A runtime whose row in `awa.runtime_instances` has not been refreshed by a heartbeat for
   * this long (and for three of its own heartbeat intervals) is taken for dead, and the leader
   * removes its row. Default 300 000 (5 min); at least 3 × `heartbeatIntervalMs`.
   */
  runtimeStalenessMs?: number;
  /** How often the leader looks for dead runtimes. Default 60 000. */
  runtimeSweepIntervalMs?: number;
}

/** Events emitted after the transition they describe has committed. */
export interface ClientEvents {
  completed: { job: Job<unknown>; result: unknown; durationMs: number };
  retried: { job: Job<unknown>; error: string; runAt: Date | null };
  snoozed: { job: Job<unknown>; runAt: Date | null };
  cancelled: { job: Job<unknown>; reason: string };
  /** The job failed for good because of a terminal error (TerminalError, unknown kind, bad args). */
  failed: { job: Job<unknown>; error: string; dlq: boolean };
  /** The job failed for good because it ran out of attempts. */
  exhausted: { job: Job<unknown>; error: string; dlq: boolean };
  /** This client, as maintenance leader, rescued an attempt. */
  rescued: { jobId: number; runLease: number; reason: "heartbeat" | "deadline"; state: string };
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
