/**
 * `drainQueue`: run the jobs of one queue until nothing in it can run now, and report what
 * became of each attempt.
 * @module
 */
import type { Sql } from "postgres";
import { toExecutor } from "../db/executor.ts";
import { TimeoutError, ValidationError } from "../errors.ts";
import { checkQueue, type JobDefinition } from "../job.ts";
import { Client } from "../runtime/client.ts";
import type { ClientEvents, Handler, Job } from "../runtime/types.ts";
import { checkSchema } from "../schema.ts";
import { storeOf } from "../storage/store.ts";
import { countRunnable } from "../storage/testing.ts";
import { checkInteger, checkOptions, describe } from "../validate.ts";
import { testClientOptions } from "./config.ts";

/** A handler bound to its job definition, for {@link DrainOptions.handlers}; see {@link handle}. */
export interface BoundHandler {
  /** The job definition the handler serves. */
  readonly job: JobDefinition<unknown>;
  /** The handler. */
  readonly handler: Handler<unknown>;
}

/** Bind `handler` to `job` for {@link drainQueue}, keeping the args type between them. */
export function handle<A>(job: JobDefinition<A>, handler: Handler<A>): BoundHandler {
  return { job: job as JobDefinition<unknown>, handler: handler as Handler<unknown> };
}

/** Options of {@link drainQueue}: give `handlers` or `client`, not both. */
export interface DrainOptions {
  /** The queue to drain. */
  queue: string;
  /**
   * Handlers to run the queue's jobs with, in a client with {@link testClientOptions}
   * (10 workers). A kind without a handler fails, as it would in production.
   */
  handlers?: readonly BoundHandler[];
  /**
   * Or your own client, configured (handlers registered) but not started, serving `queue`;
   * `drainQueue` starts it and shuts it down before it returns.
   */
  client?: Client;
  /** Awa schema. Default `"awa"`; with `client`, give the client's schema. */
  schema?: string;
  /** Give up after this long, in ms (1 to 3 600 000). Default 30 000. */
  timeoutMs?: number;
  /** Aborts the wait; the client is shut down and the signal's reason thrown. */
  signal?: AbortSignal;
}

/** How one attempt ended. */
export type DrainOutcome =
  | "completed"
  | "retried"
  | "snoozed"
  | "cancelled"
  | "failed"
  | "exhausted";

/** One attempt run by {@link drainQueue}. */
export interface DrainedJob {
  /** The job's id. */
  id: number;
  /** The job's kind. */
  kind: string;
  /** The job's args. */
  args: unknown;
  /** The attempt's number, from 1. */
  attempt: number;
  /** How the attempt ended. */
  outcome: DrainOutcome;
  /** The error text (failed, exhausted, retried) or cancel reason, else null. */
  error: string | null;
  /** What the handler returned, for completed attempts, else undefined. */
  result: unknown;
}

const DRAIN_KEYS: ReadonlySet<string> = new Set([
  "queue",
  "handlers",
  "client",
  "schema",
  "timeoutMs",
  "signal",
]);

/** How often the queue is checked for runnable jobs, in ms. */
const IDLE_CHECK_MS = 25;

function clientOf(sql: Sql, queue: string, schema: string, handlers: unknown): Client {
  if (!Array.isArray(handlers)) {
    throw new ValidationError("options.handlers", `must be an array, got ${describe(handlers)}`);
  }
  const client = new Client(
    sql,
    testClientOptions({ queues: { [queue]: { maxWorkers: 10 } }, schema }),
  );
  handlers.forEach((h: unknown, i) => {
    const b = h as Partial<BoundHandler> | null;
    if (typeof b !== "object" || b === null || typeof b.handler !== "function" || !b.job) {
      throw new ValidationError(`options.handlers[${i}]`, "must come from handle(job, handler)");
    }
    client.work(b.job, b.handler);
  });
  return client;
}

function recorder(client: Client, queue: string, into: DrainedJob[]): () => void {
  const record = (
    job: Job<unknown>,
    outcome: DrainOutcome,
    error: string | null,
    result?: unknown,
  ) => {
    if (job.queue !== queue) return;
    into.push({
      id: job.id,
      kind: job.kind,
      args: job.args,
      attempt: job.attempt,
      outcome,
      error,
      result,
    });
  };
  const listeners: Array<() => void> = [
    client.on(
      "completed",
      (e: ClientEvents["completed"]) => record(e.job, "completed", null, e.result),
    ),
    client.on("retried", (e) => record(e.job, "retried", e.error)),
    client.on("snoozed", (e) => record(e.job, "snoozed", null)),
    client.on("cancelled", (e) => record(e.job, "cancelled", e.reason)),
    client.on("failed", (e) => record(e.job, "failed", e.error)),
    client.on("exhausted", (e) => record(e.job, "exhausted", e.error)),
  ];
  return () => listeners.forEach((off) => off());
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * Run the jobs of `options.queue` until none is running or can run now (due scheduled and
 * retryable jobs included; a retry whose backoff has not passed ends the drain), shut the
 * client down, and return every attempt's outcome in the order they committed. Jobs enqueued
 * by handlers run too. Throws {@link TimeoutError} if the queue is still busy after
 * `timeoutMs`. `sql` must be a pool, not a transaction: workers commit their claims.
 *
 * ```ts
 * const outcomes = await drainQueue(sql, {
 *   queue: "email",
 *   handlers: [handle(sendEmail, async (job) => ({ sent: job.args.to }))],
 * });
 * ```
 */
export async function drainQueue(sql: Sql, options: DrainOptions): Promise<DrainedJob[]> {
  const o = checkOptions<DrainOptions>(options, "options", DRAIN_KEYS);
  const queue = checkQueue(o.queue, "options.queue");
  const schema = checkSchema(o.schema, "options.schema");
  const timeoutMs = o.timeoutMs === undefined
    ? 30_000
    : checkInteger(o.timeoutMs, "options.timeoutMs", 1, 3_600_000);
  if ((o.client === undefined) === (o.handlers === undefined)) {
    throw new ValidationError("options", "give exactly one of handlers and client");
  }
  if (o.client !== undefined && !(o.client instanceof Client)) {
    throw new ValidationError("options.client", `must be a Client, got ${describe(o.client)}`);
  }
  if (o.signal !== undefined && !(o.signal instanceof AbortSignal)) {
    throw new ValidationError(
      "options.signal",
      `must be an AbortSignal, got ${describe(o.signal)}`,
    );
  }
  const store = storeOf(toExecutor(sql), schema);
  const client = o.client ?? clientOf(sql, queue, schema, o.handlers);
  const outcomes: DrainedJob[] = [];
  const stopRecording = recorder(client, queue, outcomes);
  try {
    await client.start();
    const until = Date.now() + timeoutMs;
    for (;;) {
      const left = await countRunnable(store, queue);
      if (left === 0) break;
      if (Date.now() >= until) {
        throw new TimeoutError(
          `queue "${queue}" still had ${left} runnable or running job(s) after ${timeoutMs} ms`,
        );
      }
      await sleep(IDLE_CHECK_MS, o.signal);
    }
  } finally {
    await client.shutdown({ timeoutMs: 5_000 });
    stopRecording();
  }
  return outcomes;
}
